"""Login with a second factor, both transports, attacked: replay, reuse, guessing, expiry."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from iam.audit.events import AuditEventType
from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from iam.tokens.verification import access_token_validate
from tests.conftest import PASSWORD
from tests.mfa.conftest import Clock, Enrolled, bearer
from tests.mfa.conftest import complete_mfa as _complete
from tests.mfa.conftest import wrong_code as _wrong

pytestmark = pytest.mark.django_db


def test_password_step_asks_for_the_second_factor_and_issues_nothing(
    api: Any, user_with_totp: Enrolled, login: Any
) -> None:
    sessions_before = DeviceSession.objects.count()
    response = login(api, transport="cookie")
    assert response.status_code == 200
    body = response.json()
    assert body["mfa_required"] is True
    assert body["methods"] == ["totp", "backup_code"]
    assert isinstance(body["mfa_token"], str)
    assert len(body["mfa_token"]) >= 40
    assert set(body) == {"mfa_required", "mfa_token", "methods"}
    assert not response.cookies.get("access_token")
    assert not response.cookies.get("refresh_token")
    assert DeviceSession.objects.count() == sessions_before
    assert AuditEvent.objects.filter(type=AuditEventType.LOGIN_MFA_REQUIRED).count() == 1


def test_body_transport_completes_like_a_password_login_with_both_factors_in_amr(
    api: Any, user_with_totp: Enrolled, mfa_login: Any, user: Any, keys: Any
) -> None:
    response = mfa_login(api, user_with_totp.code())
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"access", "refresh", "token_type", "expires_in", "user"} <= set(body)
    assert body["user"]["email"] == user.email
    access = access_token_validate(body["access"])
    assert access["amr"] == ["pwd", "otp"]
    assert api.get("/api/auth/me/", **bearer(body["access"])).status_code == 200
    refreshed = api.post("/api/auth/refresh/", {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert access_token_validate(refreshed.json()["access"])["amr"] == ["pwd", "otp"]
    event = AuditEvent.objects.filter(type=AuditEventType.LOGIN_SUCCEEDED).latest("id")
    assert event.data["amr"] == ["pwd", "otp"]
    assert event.data["mfa_method"] == "totp"


def test_cookie_transport_sets_the_cookies_only_after_the_second_factor(
    browser: Any, user_with_totp: Enrolled, login: Any
) -> None:
    from tests.conftest import csrf_headers

    headers = csrf_headers(browser)
    first = login(browser, transport="cookie", **headers)
    assert "access_token" not in first.cookies
    response = browser.post(
        "/api/auth/login/mfa/",
        {"mfa_token": first.json()["mfa_token"], "code": user_with_totp.code()},
        format="json",
        **headers,
    )
    assert response.status_code == 200
    assert response.cookies["access_token"]["httponly"]
    assert response.cookies["refresh_token"]["httponly"]
    assert "refresh" not in response.json()
    assert "access" not in response.json()
    me = browser.get("/api/auth/me/")
    assert me.status_code == 200
    refreshed = browser.post("/api/auth/refresh/", {}, format="json", **csrf_headers(browser))
    assert refreshed.status_code == 200


def test_the_second_step_hands_an_app_on_another_origin_its_new_csrf_token(
    browser: Any, user_with_totp: Enrolled, login: Any, settings: Any
) -> None:
    """The second step rotates the CSRF token like a password login; an app that cannot read
    the IAM's cookie gets the new one from the response header (docs/api.md, Browser apps)."""
    app = {"HTTP_ORIGIN": "https://app.example.com"}
    settings.CORS_ALLOWED_ORIGINS = settings.CSRF_TRUSTED_ORIGINS = [app["HTTP_ORIGIN"]]
    before = browser.get("/api/auth/csrf/", **app)["X-CSRFToken"]
    first = login(browser, transport="hybrid", **app)
    assert "X-CSRFToken" not in first  # no session yet, nothing rotated
    response = browser.post(
        "/api/auth/login/mfa/",
        {"mfa_token": first.json()["mfa_token"], "code": user_with_totp.code()},
        format="json",
        **app,
    )
    assert response.status_code == 200
    assert response["X-CSRFToken"] != before
    for token, status in ((before, 403), (response["X-CSRFToken"], 200)):
        refreshed = browser.post(
            "/api/auth/refresh/", {}, format="json", HTTP_X_CSRFTOKEN=token, **app
        )
        assert refreshed.status_code == status


def test_a_wrong_password_looks_the_same_with_or_without_mfa(
    api: Any, user_with_totp: Enrolled, login: Any
) -> None:
    from iam.accounts.models import User

    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=True)
    with_mfa = login(api, password="wrong password here")
    without = login(api, email="bob@example.com", password="wrong password here")
    assert with_mfa.status_code == without.status_code == 401
    assert with_mfa.json() == without.json()
    assert "mfa" not in with_mfa.content.decode()


def test_a_code_is_accepted_once_then_refused_as_a_replay(
    api: Any, user_with_totp: Enrolled, mfa_login: Any
) -> None:
    code = user_with_totp.code()
    assert mfa_login(api, code).status_code == 200
    replay = mfa_login(api, code)  # same time step, same code, a new sign-in attempt
    assert (replay.status_code, replay.json()["code"]) == (400, "invalid_code")


def test_the_enrolment_code_cannot_sign_in(
    api: Any, user: Any, login: Any, clock: Clock, mfa_login: Any
) -> None:
    from tests.mfa.conftest import enrol

    tokens = login(api).json()
    app, _ = enrol(api, tokens["access"])  # accepted at enable ...
    replay = mfa_login(api, app.now())  # ... so not again in the same step
    assert replay.json()["code"] == "invalid_code"


def test_one_step_of_drift_either_way_is_accepted_two_are_not(
    api: Any, user_with_totp: Enrolled, mfa_login: Any, clock: Clock
) -> None:
    from datetime import timedelta

    clock.next_step()  # so the previous step is not the enrolment's (already used) one
    app = user_with_totp.app
    now = timezone.now()

    too_old = app.at(now - timedelta(seconds=60))
    assert mfa_login(api, too_old).json()["code"] == "invalid_code"
    too_new = app.at(now + timedelta(seconds=60))
    assert mfa_login(api, too_new).json()["code"] == "invalid_code"
    previous = app.at(now - timedelta(seconds=30))
    assert mfa_login(api, previous).status_code == 200
    following = app.at(now + timedelta(seconds=30))  # a newer step than the one just used
    assert mfa_login(api, following).status_code == 200
    # the current step is now older than the last accepted one: refused
    assert mfa_login(api, app.at(now)).json()["code"] == "invalid_code"


def test_the_mfa_token_works_once(
    api: Any, user_with_totp: Enrolled, login: Any, clock: Clock
) -> None:
    token = login(api).json()["mfa_token"]
    assert _complete(api, token, user_with_totp.code()).status_code == 200
    clock.next_step()
    again = _complete(api, token, user_with_totp.code())
    assert (again.status_code, again.json()["code"]) == (401, "mfa_token_invalid")


def test_the_mfa_token_expires(
    api: Any, user_with_totp: Enrolled, login: Any, clock: Clock, settings: Any
) -> None:
    settings.IAM_MFA_TOKEN_TTL = 300
    token = login(api).json()["mfa_token"]
    clock.shift(301)
    response = _complete(api, token, user_with_totp.code())
    assert (response.status_code, response.json()["code"]) == (401, "mfa_token_invalid")


def test_forged_mfa_tokens_are_refused(api: Any, user_with_totp: Enrolled) -> None:
    for forged in ("x", "a" * 43, user_with_totp.tokens["access"][:256]):
        response = _complete(api, forged, user_with_totp.code())
        assert (response.status_code, response.json()["code"]) == (401, "mfa_token_invalid")


def test_five_wrong_codes_kill_the_mfa_token(
    api: Any, user_with_totp: Enrolled, login: Any, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "mfa_code": "100/min",
        },
    }
    token = login(api).json()["mfa_token"]
    wrong = _wrong(user_with_totp.code())
    for _ in range(5):
        assert _complete(api, token, wrong).json()["code"] == "invalid_code"
    dead = _complete(api, token, user_with_totp.code())
    assert (dead.status_code, dead.json()["code"]) == (401, "mfa_token_invalid")
    # a new sign-in still works: the limit is per token here, not a lockout
    assert _complete(api, login(api).json()["mfa_token"], user_with_totp.code()).status_code == 200


def test_wrong_codes_are_limited_per_user_across_mfa_tokens(
    api: Any, user_with_totp: Enrolled, login: Any, clock: Clock
) -> None:
    wrong = _wrong(user_with_totp.code())
    tokens = [login(api).json()["mfa_token"] for _ in range(2)]
    for i in range(5):
        assert _complete(api, tokens[i % 2], wrong).json()["code"] == "invalid_code"
    throttled = _complete(api, tokens[1], user_with_totp.code())  # even the right code
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert 1 <= int(throttled["Retry-After"]) <= 61
    clock.shift(int(throttled["Retry-After"]))
    assert _complete(api, tokens[1], user_with_totp.code()).status_code == 200


def test_right_codes_do_not_use_up_the_allowance(
    api: Any, user_with_totp: Enrolled, mfa_login: Any, clock: Clock
) -> None:
    for _ in range(7):
        assert mfa_login(api, user_with_totp.code()).status_code == 200
        clock.next_step()


def test_a_backup_code_signs_in_once(api: Any, user_with_totp: Enrolled, mfa_login: Any) -> None:
    code = user_with_totp.backup_codes[0]
    response = mfa_login(api, code.upper().replace("-", " "))  # as typed from paper
    assert response.status_code == 200
    assert access_token_validate(response.json()["access"])["amr"] == ["pwd", "otp"]
    assert mfa_login(api, code).json()["code"] == "invalid_code"
    used = AuditEvent.objects.get(type=AuditEventType.MFA_BACKUP_CODE_USED)
    assert used.data == {"purpose": "login", "remaining": 9}
    status = api.get("/api/auth/mfa/", **bearer(response.json()["access"])).json()
    assert status["backup_codes_remaining"] == 9


def test_another_users_backup_code_does_not_work(
    api: Any, user_with_totp: Enrolled, mfa_login: Any, login: Any, clock: Clock
) -> None:
    from iam.accounts.models import User
    from tests.mfa.conftest import enrol

    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=True)
    _, bobs_codes = enrol(api, login(api, email="bob@example.com").json()["access"])
    assert mfa_login(api, bobs_codes[0]).json()["code"] == "invalid_code"


def test_a_password_reset_does_not_bypass_mfa(
    api: Any, user_with_totp: Enrolled, login: Any, outbox: list
) -> None:
    from tests.conftest import link_token

    pending = login(api).json()["mfa_token"]  # an attempt under way when the password changes
    api.post("/api/auth/password/reset/", {"email": "alice@example.com"}, format="json")
    new_password = "a completely new passphrase 42"
    confirmed = api.post(
        "/api/auth/password/reset/confirm/",
        {"token": link_token(outbox[-1]), "password": new_password},
        format="json",
    )
    assert confirmed.status_code == 200, confirmed.content
    after = login(api, password=new_password)
    assert after.json()["mfa_required"] is True
    stale = _complete(api, pending, user_with_totp.code())
    assert (stale.status_code, stale.json()["code"]) == (401, "mfa_token_invalid")
    assert _complete(api, after.json()["mfa_token"], user_with_totp.code()).status_code == 200


@pytest.mark.parametrize("path", ["/api/token/", "/api-token-auth/"])
def test_the_compat_token_endpoints_do_not_bypass_mfa(
    api: Any, user_with_totp: Enrolled, path: str
) -> None:
    first = api.post(path, {"email": "alice@example.com", "password": PASSWORD}, format="json")
    assert first.status_code == 200
    assert "access" not in first.json()
    assert first.json()["mfa_required"] is True
    done = _complete(api, first.json()["mfa_token"], user_with_totp.code())
    assert done.status_code == 200
    assert {"access", "refresh"} <= set(done.json())


def test_a_deactivated_user_cannot_finish_signing_in(
    api: Any, user_with_totp: Enrolled, login: Any
) -> None:
    token = login(api).json()["mfa_token"]
    user_with_totp.user.is_active = False
    user_with_totp.user.save(update_fields=["is_active"])
    response = _complete(api, token, user_with_totp.code())
    assert (response.status_code, response.json()["code"]) == (401, "mfa_token_invalid")


def test_the_tenant_asked_for_at_the_password_step_is_kept(
    api: Any, user_with_totp: Enrolled, login: Any
) -> None:
    from iam.tenancy.models import Membership, Role, Tenant

    acme = Tenant.objects.create(slug="acme", name="Acme")
    Membership.objects.create(
        tenant=acme, user=user_with_totp.user, role=Role.objects.get(name="admin")
    )
    token = login(api, tenant="acme").json()["mfa_token"]
    response = _complete(api, token, user_with_totp.code())
    assert response.status_code == 200, response.content
    claims = access_token_validate(response.json()["access"])
    assert claims["tenant"] == "acme"
    assert claims["roles"] == ["admin"]


def test_the_only_tenant_is_chosen_for_a_user_with_mfa_too(
    api: Any, user_with_totp: Enrolled, login: Any
) -> None:
    """The default tenant is decided with MFA and device history, under the lock, and the
    pending sign-in carries it to the second step."""
    from iam.tenancy.models import Membership, Role, Tenant

    acme = Tenant.objects.create(slug="acme", name="Acme")
    Membership.objects.create(
        tenant=acme, user=user_with_totp.user, role=Role.objects.get(name="member")
    )
    token = login(api).json()["mfa_token"]
    response = _complete(api, token, user_with_totp.code())
    assert response.status_code == 200, response.content
    assert access_token_validate(response.json()["access"])["tenant"] == "acme"


def test_bad_input_is_a_clear_400(api: Any, db: Any) -> None:
    for body in ({}, {"mfa_token": "x"}, {"code": "123456"}, {"mfa_token": ["x"], "code": 1}):
        response = api.post("/api/auth/login/mfa/", body, format="json")
        assert response.status_code == 400
        assert response.json()["code"]
    long = api.post("/api/auth/login/mfa/", {"mfa_token": "x" * 300, "code": "1"}, format="json")
    assert long.status_code == 400
