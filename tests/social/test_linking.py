"""The security core: an identity whose verified address belongs to a local account is never
linked silently. The owner signs in to the account (password, plus the second factor when MFA
is on) in the browser that holds the pending link, then confirms."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from iam.social.models import SocialIdentity
from tests.conftest import PASSWORD
from tests.social.conftest import SignIn, provider_config, redirect_query


def _csrf(client: APIClient) -> dict[str, str]:
    client.get("/api/auth/csrf/")
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def _password_login(client: APIClient, email: str = "alice@example.com") -> Any:
    return client.post(
        "/api/auth/login/", {"email": email, "password": PASSWORD}, format="json", **_csrf(client)
    )


def _collide(idp: Any, browser: APIClient, sub: str = "gx-1", **params: str) -> Any:
    idp.account(sub, email="ALICE@example.com", email_verified=True, name="Alice Elsewhere")
    return SignIn(browser, idp).run(sub, **params)


def test_a_verified_address_of_a_local_account_is_not_linked_silently(idp: Any, user: User) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    response = _collide(idp, browser, next="/after")
    assert redirect_query(response) == {
        "social_step": "link",
        "provider": "idp",
        "next": "https://app.iam.test/after",
    }
    cookie = response.cookies["social_link"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/api/auth/social/"
    assert cookie.value not in response["Location"]
    assert not SocialIdentity.objects.exists()
    assert not DeviceSession.objects.exists()
    assert "access_token" not in response.cookies
    assert AuditEvent.objects.filter(
        type="user:social:link_required", user=user, data={"provider": "idp"}
    ).exists()
    pending = browser.get("/api/auth/social/link/")
    assert pending.status_code == 200
    assert pending.json()["email"] == "ALICE@example.com"
    assert pending.json()["display_name"] == "Test idp"
    # confirming needs a signed-in account
    assert browser.post("/api/auth/social/link/", {}, format="json").status_code == 401
    # signing in with the provider again changes nothing
    again = SignIn(browser, idp).run("gx-1")
    assert redirect_query(again)["social_step"] == "link"
    assert not SocialIdentity.objects.exists()


def test_the_owner_links_after_a_password_sign_in_then_the_identity_signs_in(
    idp: Any, user: User, outbox: list
) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    _collide(idp, browser)
    assert _password_login(browser).status_code == 200
    confirmed = browser.post("/api/auth/social/link/", {}, format="json", **_csrf(browser))
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["provider"] == "idp"
    assert confirmed.json()["can_disconnect"] is True
    assert confirmed.cookies["social_link"].value == ""
    assert SocialIdentity.objects.get(provider="idp", subject="gx-1").user == user
    assert AuditEvent.objects.filter(
        type="user:social:linked", user=user, data={"provider": "idp", "method": "confirmed"}
    ).exists()
    assert any("ways to sign in" in m.subject for m in outbox)
    # the link works once
    again = browser.post("/api/auth/social/link/", {}, format="json", **_csrf(browser))
    assert again.json()["code"] == "social_link_invalid"
    # and now the identity signs in to alice's account
    response = SignIn(APIClient(), idp).run("gx-1")
    assert response["Location"] == "https://app.iam.test/"
    assert User.objects.count() == 1


def test_a_session_older_than_the_pending_link_cannot_confirm_it(idp: Any, user: User) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    assert _password_login(browser).status_code == 200  # signed in before the link was asked
    _collide(idp, browser)
    refused = browser.post("/api/auth/social/link/", {}, format="json", **_csrf(browser))
    assert refused.status_code == 403
    assert refused.json()["code"] == "reauthentication_required"
    assert not SocialIdentity.objects.exists()


def test_another_account_cannot_confirm_the_link(idp: Any, user: User) -> None:
    User.objects.create_user(email="mallory@example.com", password=PASSWORD, email_verified=True)
    browser = APIClient(enforce_csrf_checks=True)
    _collide(idp, browser)
    assert _password_login(browser, "mallory@example.com").status_code == 200
    refused = browser.post("/api/auth/social/link/", {}, format="json", **_csrf(browser))
    assert refused.status_code == 403
    assert refused.json()["code"] == "social_link_mismatch"
    assert not SocialIdentity.objects.exists()


def test_with_mfa_on_the_link_needs_the_second_factor(idp: Any, user_with_totp: Any) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    _collide(idp, browser)
    first = _password_login(browser)
    assert first.json()["mfa_required"] is True
    # no session yet: nothing can confirm
    assert browser.post("/api/auth/social/link/", {}, format="json").status_code == 401
    second = browser.post(
        "/api/auth/login/mfa/",
        {"mfa_token": first.json()["mfa_token"], "code": user_with_totp.code()},
        format="json",
        **_csrf(browser),
    )
    assert second.status_code == 200
    confirmed = browser.post("/api/auth/social/link/", {}, format="json", **_csrf(browser))
    assert confirmed.status_code == 200, confirmed.content
    # the next social sign-in of this MFA user still asks for the second factor
    response = SignIn(APIClient(), idp).run("gx-1")
    assert redirect_query(response)["social_step"] == "mfa"


def test_a_session_without_the_second_factor_cannot_confirm_for_an_mfa_account(
    idp: Any, user: User, api: APIClient, login: Any, settings: Any
) -> None:
    """MFA turned on after the session signed in (and other sessions kept): its amr lacks
    otp, so it does not prove the account as the owner would now."""
    from tests.mfa.conftest import enrol

    settings.IAM_MFA_REVOKE_OTHER_SESSIONS = False
    browser = APIClient(enforce_csrf_checks=True)
    _collide(idp, browser)
    assert _password_login(browser).status_code == 200
    tokens = login(api).json()
    enrol(api, tokens["access"])
    refused = browser.post("/api/auth/social/link/", {}, format="json", **_csrf(browser))
    assert refused.status_code == 403
    assert refused.json()["code"] == "reauthentication_required"
    assert not SocialIdentity.objects.exists()


def test_the_pending_link_can_be_cancelled(idp: Any, user: User) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    _collide(idp, browser)
    cancelled = browser.delete("/api/auth/social/link/", format="json", **_csrf(browser))
    assert cancelled.status_code == 204
    assert browser.get("/api/auth/social/link/").json()["code"] == "social_link_invalid"


def test_auto_link_only_when_the_operator_allows_it_and_both_sides_verified(
    test_provider: Any, settings: Any, user: User, keys: Any
) -> None:
    settings.IAM_SOCIAL_PROVIDERS = [
        provider_config("autolink", test_provider.issuer, auto_link=True)
    ]
    test_provider.account("al-1", email="alice@example.com", email_verified=True)
    response = SignIn(APIClient(), test_provider, "autolink").run("al-1")
    assert response["Location"] == "https://app.iam.test/"
    assert SocialIdentity.objects.get(subject="al-1").user == user
    assert AuditEvent.objects.filter(
        type="user:social:linked", data={"provider": "autolink", "method": "auto"}
    ).exists()
    # a local address nobody verified is not linked automatically (pre-registration takeover)
    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=False)
    test_provider.account("al-2", email="bob@example.com", email_verified=True)
    response = SignIn(APIClient(), test_provider, "autolink").run("al-2")
    assert redirect_query(response)["social_step"] == "link"
    assert not SocialIdentity.objects.filter(subject="al-2").exists()


def test_deleting_the_account_deletes_its_identities(idp: Any, db: Any) -> None:
    idp.account("del-1", email="del@idp.test", email_verified=True)
    SignIn(APIClient(), idp).run("del-1")
    user = User.objects.get(email="del@idp.test")
    user.set_password(PASSWORD)
    user.save()
    body = (
        APIClient()
        .post(
            "/api/auth/login/",
            {"email": "del@idp.test", "password": PASSWORD, "transport": "body"},
            format="json",
        )
        .json()
    )
    deleted = APIClient().delete(
        "/api/auth/me/",
        {"password": PASSWORD},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {body['access']}",
    )
    assert deleted.status_code == 204, deleted.content
    assert not SocialIdentity.objects.exists()
    # the same identity now makes a new account, not a way into the deleted one
    SignIn(APIClient(), idp).run("del-1")
    assert User.objects.filter(email="del@idp.test", is_active=True).exists()


@pytest.mark.parametrize(
    ("local", "asserted"),
    [
        # another domain under IDNA 2008 (xn--strae-oqa), which its owner may register
        ("ceo@strasse.example", "ceo@straße.example"),
        # a zero-width joiner: dropped by the fold, another domain where IDNA keeps it
        ("ceo@example.com", "ceo@exam\u200dple.com"),
        # the Kelvin sign: another mailbox on a server that takes UTF-8 local parts
        ("kate@example.com", "\u212aate@example.com"),
    ],
)
def test_auto_link_never_takes_an_account_whose_address_only_folds_like_the_providers(
    test_provider: Any, settings: Any, keys: Any, db: Any, local: str, asserted: str
) -> None:
    """The comparison key (NFKC_Casefold) makes look-alikes one account so that nobody can
    register a second one; it must not hand an account to whoever verified a look-alike
    address at a provider. Such a sign-in gets a pending link, which only the owner confirms."""
    settings.IAM_SOCIAL_PROVIDERS = [
        provider_config("autolink", test_provider.issuer, auto_link=True)
    ]
    victim = User.objects.create_user(email=local, password=PASSWORD, email_verified=True)
    sub = f"fold-{local}"
    test_provider.account(sub, email=asserted, email_verified=True)
    response = SignIn(APIClient(), test_provider, "autolink").run(sub)
    assert redirect_query(response)["social_step"] == "link"
    assert not SocialIdentity.objects.exists()
    assert not DeviceSession.objects.filter(user=victim).exists()


def test_auto_link_takes_the_same_address_in_another_ascii_case(
    test_provider: Any, settings: Any, user: User, keys: Any
) -> None:
    settings.IAM_SOCIAL_PROVIDERS = [
        provider_config("autolink", test_provider.issuer, auto_link=True)
    ]
    test_provider.account("al-case", email="Alice@EXAMPLE.com", email_verified=True)
    response = SignIn(APIClient(), test_provider, "autolink").run("al-case")
    assert response["Location"] == "https://app.iam.test/"
    assert SocialIdentity.objects.get(subject="al-case").user == user
