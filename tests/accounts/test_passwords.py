"""Password reset and change through the HTTP API, both transports."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone
from rest_framework.request import Request

from iam.accounts.apis import MeApi
from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.core.throttles import PasswordCheckThrottle, UserThrottle
from iam.sessions.models import DeviceSession
from tests.conftest import PASSWORD, bearer, csrf_headers, link_token

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase"


def request_reset(api, email="alice@example.com", **extra):
    return api.post("/api/auth/password/reset/", {"email": email}, format="json", **extra)


def confirm(api, token, password=NEW_PASSWORD):
    return api.post(
        "/api/auth/password/reset/confirm/",
        {"token": token, "password": password},
        format="json",
    )


def test_reset_answers_202_for_any_address_and_mails_only_accounts(api, user, outbox):
    known = request_reset(api, "ALICE@example.com")
    unknown = request_reset(api, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert [m.to for m in outbox] == [["alice@example.com"]]
    assert AuditEvent.objects.filter(type="user:password:reset_requested", user=user).exists()


def test_reset_links_come_from_the_configured_front_end_not_the_host_header(
    api, user, outbox, settings
):
    settings.ALLOWED_HOSTS = ["*"]  # even where any Host is let through
    request_reset(api, HTTP_HOST="evil.example", HTTP_X_FORWARDED_HOST="evil.example")
    assert "https://app.iam.test/reset-password?token=" in outbox[0].body
    assert "evil.example" not in outbox[0].body
    assert "evil.example" not in outbox[0].alternatives[0].content


def test_reset_sets_the_password_and_ends_every_session(api, user, login, outbox, browser):
    body = login(api).json()
    login(browser, transport="cookie")
    request_reset(api)
    response = confirm(api, link_token(outbox[0]))
    assert response.status_code == 200, response.content
    assert response.json()["detail"]
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not DeviceSession.objects.filter(user=user, revoked_at__isnull=True).exists()
    # the old tokens of both transports stop at once
    assert api.get("/api/auth/me/", **bearer(body["access"])).status_code == 401
    refresh = api.post("/api/auth/refresh/", {"refresh": body["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert browser.get("/api/auth/me/").status_code == 401
    assert login(api).status_code == 401
    assert login(api, password=NEW_PASSWORD).status_code == 200
    assert AuditEvent.objects.filter(type="user:password:reset_completed", user=user).exists()


def test_a_reset_link_works_once(api, user, outbox):
    request_reset(api)
    token = link_token(outbox[0])
    assert confirm(api, token).status_code == 200
    again = confirm(api, token, password="yet another passphrase")
    assert again.status_code == 400
    assert again.json()["code"] == "token_used"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_reset_link_dies_when_the_password_changes_another_way(api, user, outbox):
    request_reset(api)
    token = link_token(outbox[0])
    user.set_password("changed elsewhere meanwhile")
    user.save()
    assert confirm(api, token).json()["code"] == "token_used"


def test_a_reset_link_dies_when_the_address_changes(api, user, outbox):
    request_reset(api)
    token = link_token(outbox[0])
    user.email = "alice@elsewhere.example"
    user.save()
    assert confirm(api, token).json()["code"] == "token_used"


def test_a_reset_link_expires_after_an_hour(api, user, outbox):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        request_reset(api)
        clock.shift(3601)
        response = confirm(api, link_token(outbox[0]))
    assert response.status_code == 400
    assert response.json()["code"] == "token_expired"


def test_a_reset_link_of_one_user_cannot_reset_another(api, user, outbox):
    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=True)
    request_reset(api, "bob@example.com")
    token = link_token(outbox[0])
    # swap the user id inside the signed payload: the signature no longer matches
    import base64
    import json

    head, _, rest = token.partition(":")
    payload = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    payload[0] = user.pk.hex
    forged = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
    response = confirm(api, forged.decode().rstrip("=") + ":" + rest)
    assert response.status_code == 400
    assert response.json()["code"] == "token_invalid"
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_verification_link_cannot_reset_a_password(api, db, outbox):
    api.post(
        "/api/auth/register/", {"email": "bob@example.com", "password": PASSWORD}, format="json"
    )
    response = confirm(api, link_token(outbox[0]))
    assert response.json()["code"] == "token_invalid"


def test_reset_refuses_a_weak_password_and_keeps_the_link_usable(api, user, outbox):
    request_reset(api)
    token = link_token(outbox[0])
    weak = confirm(api, token, password="alice")
    assert weak.status_code == 400
    assert weak.json()["code"] == "password_rejected"
    assert weak.json()["fields"]["password"]
    assert confirm(api, token).status_code == 200


def test_reset_verifies_an_unverified_address(api, db, outbox):
    user = User.objects.create_user(email="bob@example.com", password=PASSWORD)
    request_reset(api, "bob@example.com")
    assert confirm(api, link_token(outbox[0])).status_code == 200
    user.refresh_from_db()
    assert user.email_verified


def change(client, current=PASSWORD, new=NEW_PASSWORD, **extra):
    return client.post(
        "/api/auth/password/change/",
        {"current_password": current, "new_password": new},
        format="json",
        **extra,
    )


def test_change_keeps_this_session_and_ends_the_others(api, user, login):
    this = login(api).json()
    other = login(api).json()
    response = change(api, **bearer(this["access"]))
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert api.get("/api/auth/me/", **bearer(this["access"])).status_code == 200
    kept = api.post("/api/auth/refresh/", {"refresh": this["refresh"]}, format="json")
    assert kept.status_code == 200
    assert api.get("/api/auth/me/", **bearer(other["access"])).status_code == 401
    ended = api.post("/api/auth/refresh/", {"refresh": other["refresh"]}, format="json")
    assert ended.status_code == 401
    assert AuditEvent.objects.filter(type="user:password:changed", user=user).exists()


def test_change_by_cookie_needs_csrf_and_keeps_the_browser_signed_in(browser, api, user, login):
    login(browser, transport="cookie")
    other = login(api).json()
    assert change(browser).status_code == 403  # no CSRF header
    response = change(browser, **csrf_headers(browser))
    assert response.status_code == 200
    assert browser.get("/api/auth/me/").status_code == 200
    assert api.get("/api/auth/me/", **bearer(other["access"])).status_code == 401


def test_change_with_a_wrong_current_password_changes_nothing(api, user, tokens):
    response = change(api, current="not my password", **bearer(tokens["access"]))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_password"
    assert "current_password" in response.json()["fields"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_change_refuses_a_weak_new_password(api, user, tokens):
    response = change(api, new="alice@example.com", **bearer(tokens["access"]))
    assert response.status_code == 400
    assert response.json()["code"] == "password_rejected"
    assert "new_password" in response.json()["fields"]


def test_change_needs_authentication(api, user):
    assert change(api).status_code == 401


def test_current_password_guessing_is_throttled_per_user(api, user, tokens):
    codes = [
        change(api, current=f"guess {i}", **bearer(tokens["access"])).status_code for i in range(6)
    ]
    assert codes == [400] * 5 + [429]


def test_only_requests_that_carry_a_password_spend_the_password_check_limit(api, user, tokens):
    """Name changes, a bare MFA setup and an e-mail change without the password check no
    password: they must not use up the 5/min a user has for checks that do."""
    auth = bearer(tokens["access"])
    for i in range(6):
        assert (
            api.patch("/api/auth/me/", {"name": f"Alice {i}"}, format="json", **auth).status_code
            == 200
        )
        assert api.post("/api/auth/mfa/totp/setup/", {}, format="json", **auth).status_code == 200
        no_password = api.patch(
            "/api/auth/me/", {"email": "new@example.com"}, format="json", **auth
        )
        assert no_password.json()["code"] == "password_required"
    codes = [
        api.patch(
            "/api/auth/me/",
            {"email": "new@example.com", "current_password": f"guess {i}"},
            format="json",
            **auth,
        ).status_code
        for i in range(5)
    ]
    assert codes == [400] * 5  # the first five real checks all ran
    # and every form of a password check counts in the same per-user bucket
    assert change(api, current="guess 6", **auth).status_code == 429
    deletion = api.delete("/api/auth/me/", {"password": 123456}, format="json", **auth)
    assert deletion.status_code == 429


def test_reading_the_profile_never_spends_the_password_check_limit(api, user, tokens):
    """Found in review: GET /me carrying a body with a password field was counted (and its body
    parsed) once the limit applied to every method of /me."""
    auth = bearer(tokens["access"])
    for _ in range(6):
        response = api.generic(
            "GET", "/api/auth/me/", '{"password": "x"}', "application/json", **auth
        )
        assert response.status_code == 200
    assert change(api, current="guess", **auth).status_code == 400  # not 429


@pytest.mark.parametrize(
    ("method", "built"),
    [("get", False), ("head", False), ("options", False), ("patch", True), ("delete", True)],
)
def test_a_safe_request_does_not_build_the_password_check_limit(rf, method, built):
    """The limit never counts a safe method; building it for every ``GET /me`` was work for
    nothing. The per-user limit is still built for every method."""
    view = MeApi()
    view.request = Request(getattr(rf, method)("/api/auth/me/"))
    kinds = [type(throttle) for throttle in view.get_throttles()]
    assert (PasswordCheckThrottle in kinds) is built
    assert UserThrottle in kinds
