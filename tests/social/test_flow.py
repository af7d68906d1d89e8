"""The browser flow against the real OpenID provider: a new user, a returning user, the second
factor, tenants, transports, cancel, and what the provider is sent (state, nonce, PKCE)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from rest_framework.test import APIClient

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from iam.social.models import SocialIdentity
from tests.social.conftest import SignIn, redirect_query


def _claims(access: str) -> dict[str, Any]:
    return jwt.decode(access, options={"verify_signature": False})


def test_a_new_user_gets_a_verified_account_a_session_and_is_sent_to_next(
    idp: Any, db: Any
) -> None:
    idp.account("new-1", email="Newcomer@IDP.test", email_verified=True, name="New Comer")
    browser = APIClient()
    response = SignIn(browser, idp).run("new-1", next="/welcome")
    assert response.status_code == 302
    assert response["Location"] == "https://app.iam.test/welcome"
    user = User.objects.get(email__iexact="newcomer@idp.test")
    assert user.email_verified
    assert not user.has_usable_password()
    assert user.name == "New Comer"
    assert SocialIdentity.objects.get(provider="idp", subject="new-1").user == user
    # the cookies of a cookie-transport login, HttpOnly, and a fresh CSRF token
    access = response.cookies["access_token"]
    assert access["httponly"]
    assert response.cookies["refresh_token"]["httponly"]
    assert "csrftoken" in response.cookies
    assert _claims(access.value)["amr"] == ["fed"]
    me = browser.get("/api/auth/me/")
    assert me.status_code == 200, me.content
    assert me.json()["email"] == user.email
    session = DeviceSession.objects.get(user=user)
    assert session.amr == ["fed"]
    assert session.transport == "cookie"
    events = list(AuditEvent.objects.filter(user=user).values_list("type", "data"))
    assert ("user:account:registered", {"method": "social", "provider": "idp"}) in events
    assert ("user:social:linked", {"provider": "idp", "method": "signup"}) in events
    login = next(data for kind, data in events if kind == "user:login:succeeded")
    assert login["amr"] == ["fed"]
    assert login["provider"] == "idp"
    # the security log shows the provider
    log = browser.get("/api/auth/security-log/").json()["results"]
    assert any(e["details"].get("provider") == "idp" for e in log)


def test_a_returning_user_signs_in_to_the_same_account(idp: Any, db: Any, outbox: list) -> None:
    idp.account("ret-1", email="ret@idp.test", email_verified=True)
    SignIn(APIClient(), idp).run("ret-1")
    user = User.objects.get(email="ret@idp.test")
    # the provider's address changes: the identity, not the address, finds the account
    idp.account("ret-1", email="renamed@idp.test", email_verified=False)
    second = APIClient(HTTP_USER_AGENT="another device")
    response = SignIn(second, idp).run("ret-1")
    assert response["Location"] == "https://app.iam.test/"
    assert User.objects.count() == 1
    assert DeviceSession.objects.filter(user=user).count() == 2
    identity = SocialIdentity.objects.get(provider="idp", subject="ret-1")
    assert identity.email == "renamed@idp.test"
    assert identity.last_used_at is not None
    # the same new-device notice as a password sign-in
    assert any("New sign-in" in m.subject or "sign-in" in m.subject.lower() for m in outbox)


def test_the_provider_is_sent_state_nonce_and_pkce_s256(idp: Any, db: Any) -> None:
    begun = SignIn(APIClient(), idp).begin()
    assert begun.status_code == 302
    query = parse_qs(urlsplit(begun["Location"]).query)
    assert begun["Location"].startswith(idp.issuer)
    assert len(query["state"][0]) >= 32
    assert len(query["nonce"][0]) >= 32
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["https://iam.test/api/auth/social/idp/callback/"]
    assert "client_secret" not in query


def test_hybrid_transport_sets_only_the_refresh_cookie(idp: Any, db: Any) -> None:
    idp.account("hy-1", email="hy@idp.test", email_verified=True)
    browser = APIClient()
    response = SignIn(browser, idp).run("hy-1", transport="hybrid")
    assert "access_token" not in response.cookies
    assert "refresh_token" in response.cookies
    browser.get("/api/auth/csrf/")
    refreshed = browser.post(
        "/api/auth/refresh/", {}, format="json", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value
    )
    assert refreshed.status_code == 200, refreshed.content
    assert _claims(refreshed.json()["access"])["amr"] == ["fed"]


def test_cancelling_at_the_provider_lands_on_the_sign_in_page(idp: Any, db: Any) -> None:
    flow = SignIn(APIClient(), idp)
    back = idp.authorize(flow.begin(next="/x")["Location"], deny=True)
    response = flow.callback(back)
    assert redirect_query(response) == {
        "social_error": "social_cancelled",
        "provider": "idp",
        "next": "https://app.iam.test/x",
    }
    assert response["Location"].startswith("https://app.iam.test/sign-in?")
    assert AuditEvent.objects.filter(
        type="user:social:refused", data__reason="social_cancelled"
    ).exists()


def test_an_mfa_user_gets_the_second_step_with_the_pending_sign_in_in_a_cookie(
    idp: Any, user_with_totp: Any
) -> None:
    SocialIdentity.objects.create(user=user_with_totp.user, provider="idp", subject="mfa-1")
    idp.account("mfa-1", email="alice@example.com", email_verified=True)
    browser = APIClient(enforce_csrf_checks=True)
    response = SignIn(browser, idp).run("mfa-1", next="/after")
    assert redirect_query(response) == {
        "social_step": "mfa",
        "provider": "idp",
        "next": "https://app.iam.test/after",
    }
    assert "access_token" not in response.cookies
    assert "refresh_token" not in response.cookies
    pending = response.cookies["mfa_pending"]
    assert pending["httponly"]
    assert pending["samesite"] == "Strict"
    assert pending["path"] == "/api/auth/"
    assert pending.value not in response["Location"]  # never in a URL
    # the page posts the code alone; the cookie carries the pending sign-in, CSRF required
    no_csrf = browser.post("/api/auth/login/mfa/", {"code": user_with_totp.code()}, format="json")
    assert no_csrf.status_code == 403
    browser.get("/api/auth/csrf/")
    done = browser.post(
        "/api/auth/login/mfa/",
        {"code": user_with_totp.code()},
        format="json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert done.status_code == 200, done.content
    assert _claims(done.cookies["access_token"].value)["amr"] == ["fed", "otp"]
    assert done.cookies["mfa_pending"].value == ""  # cleared
    login = AuditEvent.objects.filter(type="user:login:succeeded").latest("id")
    assert login.data["amr"] == ["fed", "otp"]
    assert login.data["provider"] == "idp"


def test_a_social_sign_in_picks_the_tenant_like_a_password_login(idp: Any, db: Any) -> None:
    from iam.tenancy.models import Membership, Role, Tenant

    idp.account("ten-1", email="ten@idp.test", email_verified=True)
    SignIn(APIClient(), idp).run("ten-1")
    user = User.objects.get(email="ten@idp.test")
    acme = Tenant.objects.create(slug="acme", name="Acme")
    other = Tenant.objects.create(slug="other", name="Other")
    member = Role.objects.get(name="member")
    Membership.objects.create(user=user, tenant=acme, role=member)
    Membership.objects.create(user=user, tenant=other, role=member)
    browser = APIClient()
    SignIn(browser, idp).run("ten-1", tenant="acme")
    assert _claims(browser.cookies["access_token"].value)["tenant"] == "acme"
    refused = SignIn(APIClient(), idp).run("ten-1", tenant="nope")
    assert redirect_query(refused)["social_error"] == "not_a_member"


def test_a_deactivated_account_is_refused(idp: Any, db: Any) -> None:
    idp.account("off-1", email="off@idp.test", email_verified=True)
    SignIn(APIClient(), idp).run("off-1")
    User.objects.filter(email="off@idp.test").update(is_active=False)
    response = SignIn(APIClient(), idp).run("off-1")
    assert redirect_query(response)["social_error"] == "social_account_disabled"
    assert "access_token" not in response.cookies
    assert AuditEvent.objects.filter(
        type="user:social:refused", data__reason="social_account_disabled"
    ).exists()


def test_providers_lists_the_enabled_ones_with_urls_from_the_issuer(
    test_provider: Any, settings: Any, db: Any
) -> None:
    from tests.social.conftest import provider_config

    settings.IAM_SOCIAL_PROVIDERS = [
        provider_config("idp", test_provider.issuer),
        {**provider_config("other", test_provider.issuer), "client_secret": ""},  # not offered
        provider_config("github", "", kind="github", display_name=""),
    ]
    body = APIClient().get("/api/auth/social/providers/", HTTP_HOST="localhost").json()
    assert body == [
        {
            "name": "idp",
            "display_name": "Test idp",
            "begin_url": "https://iam.test/api/auth/social/idp/begin/",
            "token_url": "https://iam.test/api/auth/social/idp/token/",
        },
        {
            "name": "github",
            "display_name": "GitHub",
            "begin_url": "https://iam.test/api/auth/social/github/begin/",
            "token_url": None,
        },
    ]
    begun = APIClient().get("/api/auth/social/other/begin/")
    assert redirect_query(begun)["social_error"] == "provider_not_found"
