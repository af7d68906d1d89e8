"""A signed-in user's identities: list, connect (with a recent sign-in), disconnect (never the
last way to sign in)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from iam.accounts.models import User
from iam.social.models import SocialIdentity
from tests.conftest import PASSWORD
from tests.social.conftest import SignIn, redirect_query


def _bearer(access: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def _social_only_user(idp: Any, sub: str = "only-1") -> tuple[User, dict[str, str]]:
    idp.account(sub, email=f"{sub}@idp.test", email_verified=True)
    browser = APIClient()
    SignIn(browser, idp).run(sub, transport="hybrid")
    browser.get("/api/auth/csrf/")
    access = browser.post(
        "/api/auth/refresh/", {}, format="json", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value
    ).json()["access"]
    return User.objects.get(email=f"{sub}@idp.test"), _bearer(access)


def test_the_last_way_to_sign_in_cannot_be_removed(idp: Any, db: Any) -> None:
    user, auth = _social_only_user(idp)
    listed = APIClient().get("/api/auth/social/identities/", **auth).json()
    assert len(listed) == 1
    assert listed[0]["can_disconnect"] is False
    refused = APIClient().delete(f"/api/auth/social/identities/{listed[0]['id']}/", **auth)
    assert refused.status_code == 409
    assert refused.json()["code"] == "last_sign_in_method"
    assert SocialIdentity.objects.filter(user=user).exists()
    # with a password it can go
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    gone = APIClient().delete(f"/api/auth/social/identities/{listed[0]['id']}/", **auth)
    assert gone.status_code == 204
    assert not SocialIdentity.objects.filter(user=user).exists()


def test_someone_elses_identity_is_not_found(idp: Any, user: User, tokens: dict) -> None:
    _, _ = _social_only_user(idp, "other-1")
    row = SocialIdentity.objects.get(subject="other-1")
    response = APIClient().delete(
        f"/api/auth/social/identities/{row.pk}/", **_bearer(tokens["access"])
    )
    assert response.status_code == 404


def test_connect_links_another_identity_to_the_signed_in_account(
    idp: Any, user: User, tokens: dict
) -> None:
    idp.account("conn-1", email="whatever@idp.test", email_verified=False)
    browser = APIClient()
    started = browser.post(
        "/api/auth/social/identities/",
        {"provider": "idp"},
        format="json",
        **_bearer(tokens["access"]),
    )
    assert started.status_code == 200, started.content
    back = idp.authorize(started.json()["authorization_url"], login="conn-1")
    response = SignIn(browser, idp).callback(back)
    assert response["Location"] == "https://app.iam.test/account/connections?social_connected=idp"
    assert SocialIdentity.objects.get(subject="conn-1").user == user
    listed = APIClient().get("/api/auth/social/identities/", **_bearer(tokens["access"])).json()
    assert [i["provider"] for i in listed] == ["idp"]
    assert listed[0]["can_disconnect"] is True
    # the connected identity signs in to this account
    signed_in = SignIn(APIClient(), idp).run("conn-1")
    assert signed_in["Location"] == "https://app.iam.test/"


def test_connect_needs_a_recent_sign_in_or_the_password(
    idp: Any, user: User, tokens: dict, time_machine: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    time_machine.move_to(datetime.now(UTC) + timedelta(minutes=10), tick=False)
    auth = _bearer(tokens["access"])
    for body, code in (
        ({}, "password_required"),
        ({"password": "wrong password!"}, "invalid_password"),
    ):
        refused = APIClient().post(
            "/api/auth/social/identities/", {"provider": "idp", **body}, format="json", **auth
        )
        assert refused.status_code == 400
        assert refused.json()["code"] == code


def test_connecting_an_identity_of_another_account_is_refused(
    idp: Any, user: User, tokens: dict
) -> None:
    _social_only_user(idp, "taken-1")
    browser = APIClient()
    started = browser.post(
        "/api/auth/social/identities/",
        {"provider": "idp", "next": "/account/connections"},
        format="json",
        **_bearer(tokens["access"]),
    ).json()
    back = idp.authorize(started["authorization_url"], login="taken-1")
    response = SignIn(browser, idp).callback(back)
    assert redirect_query(response) == {"social_error": "social_identity_in_use"}
    assert response["Location"].startswith("https://app.iam.test/account/connections?")
    assert SocialIdentity.objects.get(subject="taken-1").user != user


def test_a_connect_whose_session_ended_meanwhile_links_nothing(
    idp: Any, user: User, tokens: dict
) -> None:
    idp.account("late-1", email="late@idp.test", email_verified=True)
    browser = APIClient()
    auth = _bearer(tokens["access"])
    started = browser.post(
        "/api/auth/social/identities/", {"provider": "idp"}, format="json", **auth
    ).json()
    assert APIClient().post("/api/auth/logout-all/", {}, format="json", **auth).status_code == 200
    back = idp.authorize(started["authorization_url"], login="late-1")
    response = SignIn(browser, idp).callback(back)
    assert redirect_query(response)["social_error"] == "reauthentication_required"
    assert not SocialIdentity.objects.exists()


def test_cross_site_requests_with_the_cookies_change_no_identity(idp: Any, user: User) -> None:
    """Connect, confirm a pending link and disconnect ride on the access cookie: without the
    CSRF header a page of another site can send none of them (the link endpoint picks its own
    authentication per method, so it is attacked here too)."""
    browser = APIClient(enforce_csrf_checks=True)
    idp.account("csrf-1", email="alice@example.com", email_verified=True)
    assert redirect_query(SignIn(browser, idp).run("csrf-1"))["social_step"] == "link"
    browser.get("/api/auth/csrf/")
    signed_in = browser.post(
        "/api/auth/login/",
        {"email": "alice@example.com", "password": PASSWORD},
        format="json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert signed_in.status_code == 200
    row = SocialIdentity.objects.create(user=user, provider="idp", subject="csrf-old")
    attempts = [
        browser.post("/api/auth/social/link/", {}, format="json"),
        browser.post("/api/auth/social/identities/", {"provider": "idp"}, format="json"),
        browser.delete(f"/api/auth/social/identities/{row.pk}/"),
    ]
    assert [(r.status_code, r.json()["code"]) for r in attempts] == [(403, "csrf_failed")] * 3
    assert list(SocialIdentity.objects.values_list("subject", flat=True)) == ["csrf-old"]
