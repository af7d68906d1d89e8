"""Apps: ``POST /api/auth/social/{provider}/token/`` with the provider's ID token, which the app
got from the real provider with its own code flow + PKCE."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from iam.accounts.models import User
from iam.social.models import SocialIdentity
from tests.conftest import PASSWORD

EMAIL_IN_ID_TOKEN = {"id_token": {"email": None, "email_verified": None}}


def _id_token(idp: Any, sub: str, **claims: Any) -> str:
    idp.account(sub, **claims)
    return idp.authorize_code(login=sub, claims=EMAIL_IN_ID_TOKEN)["id_token"]


def _post(body: dict, provider: str = "idp") -> Any:
    return APIClient().post(f"/api/auth/social/{provider}/token/", body, format="json")


def test_an_id_token_signs_in_like_a_body_transport_login(idp: Any, db: Any) -> None:
    token = _id_token(idp, "app-1", email="app@idp.test", email_verified=True)
    response = _post({"id_token": token, "nonce": "app-nonce"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= {"access", "refresh", "token_type", "expires_in", "user"}
    assert body["user"]["email"] == "app@idp.test"
    assert "access_token" not in response.cookies
    assert SocialIdentity.objects.get(subject="app-1").user.email == "app@idp.test"


def test_an_id_token_works_once(idp: Any, db: Any) -> None:
    token = _id_token(idp, "app-2", email="app2@idp.test", email_verified=True)
    assert _post({"id_token": token}).status_code == 200
    again = _post({"id_token": token})
    assert again.status_code == 401
    assert again.json()["code"] == "id_token_invalid"


def test_an_id_token_works_once_however_its_signature_is_written(idp: Any, db: Any) -> None:
    """The signature segment is the one part of a JWT its signature does not cover: base64url
    padding added to it decodes to the same signature, so the token is the same token."""
    token = _id_token(idp, "app-pad", email="pad@idp.test", email_verified=True)
    signature = token.rsplit(".", 1)[1]
    padding = "=" * (-len(signature) % 4)
    assert padding  # an RS256 signature of 2048 bits is 342 characters: "==" completes it
    assert _post({"id_token": token}).status_code == 200
    again = _post({"id_token": token + padding})
    assert again.status_code == 401, again.content
    assert again.json()["code"] == "id_token_invalid"
    assert SocialIdentity.objects.get(subject="app-pad").user.device_sessions.count() == 1


def test_the_apps_nonce_must_match(idp: Any, db: Any) -> None:
    token = _id_token(idp, "app-3", email="app3@idp.test", email_verified=True)
    refused = _post({"id_token": token, "nonce": "another"})
    assert refused.json()["code"] == "id_token_invalid"
    assert not User.objects.exists()


@pytest.mark.parametrize("fault", ["aud", "iss", "expired", "alg_none", "hs256", "foreign_key"])
def test_a_forged_id_token_is_refused(idp: Any, db: Any, fault: str) -> None:
    idp.account("app-f", email="appf@idp.test", email_verified=True)
    idp.fault(fault)
    token = idp.authorize_code(login="app-f", claims=EMAIL_IN_ID_TOKEN)["id_token"]
    refused = _post({"id_token": token})
    assert refused.status_code == 401
    assert refused.json()["code"] == "id_token_invalid"
    assert not User.objects.exists()


def test_an_address_longer_than_an_identity_holds_is_not_a_500(idp: Any, db: Any) -> None:
    """RFC 3696's 320 characters pass the address check; accounts and identities hold 254. A
    linked identity whose provider now gives a longer address still signs in (PostgreSQL
    refused to record the address: a 500), and a new one is refused as having no address."""
    domain = ".".join(["b" * 63, "c" * 63, "d" * 63, "example"])
    address = f"{'a' * 64}@{domain}"
    assert 254 < len(address) <= 320
    first = _id_token(idp, "app-long", email="long@idp.test", email_verified=True)
    assert _post({"id_token": first}).status_code == 200
    again = _post({"id_token": _id_token(idp, "app-long", email=address, email_verified=True)})
    assert again.status_code == 200, again.content
    assert again.json()["user"]["email"] == "long@idp.test"
    new = _id_token(idp, "app-long-2", email=address, email_verified=True)
    refused = _post({"id_token": new})
    assert refused.status_code == 403, refused.content
    assert refused.json()["code"] == "social_email_missing"
    assert User.objects.count() == 1


def test_garbage_is_a_401_not_a_500(idp: Any, db: Any) -> None:
    for junk in ("x", "a.b.c", "e30.e30.", "." * 100):
        assert _post({"id_token": junk}).json()["code"] == "id_token_invalid"


def test_a_local_address_answers_link_required_and_the_app_confirms(idp: Any, user: User) -> None:
    token = _id_token(idp, "app-4", email="alice@example.com", email_verified=True)
    answer = _post({"id_token": token})
    assert answer.status_code == 200
    body = answer.json()
    assert body["link_required"] is True
    assert body["email"] == "alice@example.com"
    assert "access" not in body
    app = APIClient()
    tokens = app.post(
        "/api/auth/login/",
        {"email": "alice@example.com", "password": PASSWORD, "transport": "body"},
        format="json",
    ).json()
    confirmed = app.post(
        "/api/auth/social/link/",
        {"link_token": body["link_token"]},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {tokens['access']}",
    )
    assert confirmed.status_code == 200, confirmed.content
    assert SocialIdentity.objects.get(subject="app-4").user == user


def test_an_mfa_user_gets_mfa_required(idp: Any, user_with_totp: Any) -> None:
    SocialIdentity.objects.create(user=user_with_totp.user, provider="idp", subject="app-5")
    token = _id_token(idp, "app-5", email="alice@example.com", email_verified=True)
    answer = _post({"id_token": token}).json()
    assert answer["mfa_required"] is True
    done = APIClient().post(
        "/api/auth/login/mfa/",
        {"mfa_token": answer["mfa_token"], "code": user_with_totp.code()},
        format="json",
    )
    assert done.status_code == 200
    assert "refresh" in done.json()


def test_a_provider_without_id_tokens_or_unknown_is_404(idp: Any, db: Any) -> None:
    assert _post({"id_token": "x"}, provider="nope").json()["code"] == "provider_not_found"
