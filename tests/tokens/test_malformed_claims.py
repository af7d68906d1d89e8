"""Validly signed tokens whose claims have the wrong type are refused, never a 500.

The review minted access tokens with the IAM's own key whose ``exp`` was a string or whose
``sid`` was not a UUID: ``/api/auth/me/`` and introspection answered 500. Every endpoint that
reads a token must refuse such a token like any invalid one (401 ``token_not_valid``,
``{"active": false}``, or its usual answer to an unusable token), whatever the claim. The tokens
here are signed with the real signing key, so only the claim checks can refuse them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest

from iam.oauth.services import service_client_create, token_introspect
from iam.sessions.models import DeviceSession
from iam.tenancy.models import Membership, Role, Tenant
from iam.tokens.keys import refresh_signing_secret, signing_key
from tests.oauth.test_oauth import basic

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
FAR = 10**20  # a number PyJWT compares happily and no datetime can hold


def mint(claims: dict[str, Any], typ: str = "at+jwt") -> str:
    """Signed as the IAM signs that kind of token: access and service tokens with the RS256 key,
    refresh tokens with the HS256 refresh secret."""
    if typ == "refresh+jwt":
        kid, secret = refresh_signing_secret()
        return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid, "typ": typ})
    kid, key = signing_key()
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": typ})


def decoded(raw: str) -> dict[str, Any]:
    return jwt.decode(raw, options={"verify_signature": False})


@pytest.fixture
def signed_in(api: Any, user: Any, login: Any) -> dict[str, Any]:
    """A body-transport login in tenant acme: real access and refresh claims to spoil."""
    acme = Tenant.objects.create(name="Acme", slug="acme")
    Membership.objects.create(tenant=acme, user=user, role=Role.objects.get(name="admin"))
    response = login(api, tenant="acme")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def gateway(keys: Any) -> dict[str, str]:
    client, secret = service_client_create(name="gw", audiences=["edge"], can_introspect=True)
    return basic(client.client_id, secret)


def oauth(api: Any, path: str, gateway: dict[str, str], **data: str) -> Any:
    return api.post(path, urlencode(data), content_type=FORM, **gateway)


def upper(value: str) -> str:
    return value.upper()


def unhyphenated(value: str) -> str:
    return value.replace("-", "")


def _id(value: Any) -> str:
    return value.__name__ if callable(value) else repr(value)


# Each spoils one claim of a genuine token: a new value, "drop" (removed), or a function of the
# genuine value.
ACCESS_SPOILS = [
    ("exp", "9999999999"),
    ("exp", FAR),
    ("exp", True),
    ("exp", None),
    ("iat", "yesterday"),
    ("iat", FAR),
    ("iat", -1),
    ("nbf", "now"),
    ("sub", 12345),
    ("sub", "not-a-uuid"),
    ("sub", upper),  # the user's own id, not in the canonical form
    ("sid", "not-a-uuid"),
    ("sid", 42),
    ("sid", upper),  # the session's own id, not in the canonical form
    ("sid", unhyphenated),
    ("sid", ["a"]),
    ("jti", 7),
    ("token_type", ["access"]),
    ("auth_time", "yesterday"),
    ("auth_time", FAR),
    ("auth_time", 1.5e300),
    ("amr", "pwd"),
    ("amr", [1]),
    ("roles", "admin"),
    ("roles", {"admin": True}),
    ("perms", "members.read"),
    ("perms", [None]),
    ("tid", "acme"),
    ("tid", 1),
    ("tenant", 7),
    ("email", 5),
    ("email_verified", "yes"),
    ("is_staff", 1),
    ("aud", ["iam-test-api"]),  # a list holding the audience: the contract says a string
    ("aud", ["iam-test-api", "other-api"]),
]
REFRESH_SPOILS = [
    ("exp", "9999999999"),
    ("exp", FAR),
    ("iat", "yesterday"),
    ("sid", "not-a-uuid"),
    ("sid", 42),
    ("sid", "drop"),
    ("sub", 12345),
    ("sub", "not-a-uuid"),
    ("jti", ["x"]),
    ("aud", ["https://iam.test"]),
]


def spoil(claims: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    claims = dict(claims)
    if value == "drop":
        claims.pop(name)
    elif callable(value):
        claims[name] = value(claims[name])
    else:
        claims[name] = value
    return claims


def test_a_genuine_remint_is_accepted(api: Any, signed_in: dict[str, Any]) -> None:
    """The control: re-signing the claims unchanged gives a token every endpoint accepts, so a
    refusal below is the spoilt claim's doing."""
    access = mint(decoded(signed_in["access"]))
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert me.status_code == 200, me.content
    assert api.get("/api/tenant/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    assert token_introspect(raw=access)["active"] is True
    refresh = mint(decoded(signed_in["refresh"]), typ="refresh+jwt")
    assert token_introspect(raw=refresh)["active"] is True
    rotated = api.post("/api/auth/refresh/", {"refresh": refresh}, format="json")
    assert rotated.status_code == 200, rotated.content


@pytest.mark.parametrize(("name", "value"), ACCESS_SPOILS, ids=_id)
def test_an_access_token_with_a_malformed_claim_is_refused_everywhere(
    api: Any, signed_in: dict[str, Any], gateway: dict[str, str], name: str, value: Any
) -> None:
    token = mint(spoil(decoded(signed_in["access"]), name, value))
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    for method, path in [
        ("get", "/api/auth/me/"),
        ("get", "/api/tenant/"),
        ("get", "/api/auth/sessions/"),
        ("get", "/api/auth/mfa/"),
        ("post", "/api/auth/mfa/totp/setup/"),
        ("post", "/api/auth/logout-all/"),
    ]:
        response = getattr(api, method)(path, format="json", **bearer)
        assert (response.status_code, response.json()["code"]) == (401, "token_not_valid"), (
            path,
            response.content,
        )
    for path in ("/api/auth/verify/", "/api/token/verify/"):
        response = api.post(path, {"token": token}, format="json")
        assert (response.status_code, response.json()["code"]) == (401, "token_not_valid")
    assert oauth(api, "/api/oauth/introspect/", gateway, token=token).json() == {"active": False}
    assert api.post("/api/auth/logout/", {}, format="json", **bearer).status_code == 204
    assert oauth(api, "/api/oauth/revoke/", gateway, token=token).status_code == 200
    assert not DeviceSession.objects.filter(revoked_at__isnull=False).exists()  # nothing ended


@pytest.mark.parametrize(("name", "value"), REFRESH_SPOILS, ids=_id)
def test_a_refresh_token_with_a_malformed_claim_is_refused_everywhere(
    api: Any, signed_in: dict[str, Any], gateway: dict[str, str], name: str, value: Any
) -> None:
    token = mint(spoil(decoded(signed_in["refresh"]), name, value), typ="refresh+jwt")
    for path in ("/api/auth/refresh/", "/api/token/refresh/"):
        response = api.post(path, {"refresh": token}, format="json")
        assert (response.status_code, response.json()["code"]) == (401, "token_not_valid")
    assert api.post("/api/auth/logout/", {"refresh": token}, format="json").status_code == 204
    for hint in ("refresh_token", "access_token"):
        answer = oauth(api, "/api/oauth/introspect/", gateway, token=token, token_type_hint=hint)
        assert answer.json() == {"active": False}
    assert oauth(api, "/api/oauth/revoke/", gateway, token=token).status_code == 200
    assert not DeviceSession.objects.filter(revoked_at__isnull=False).exists()
    still = api.post("/api/auth/refresh/", {"refresh": signed_in["refresh"]}, format="json")
    assert still.status_code == 200  # the genuine token of the session still works


SERVICE_SPOILS = [
    ("exp", "9999999999"),
    ("iat", FAR),
    ("client_id", 5),
    ("client_id", "svc_someone_else"),
    ("scope", ["a"]),
    ("tid", "acme"),
    ("tenant", 3),
    ("aud", ["billing-api"]),
]


@pytest.mark.parametrize(("name", "value"), SERVICE_SPOILS, ids=_id)
def test_a_service_token_with_a_malformed_claim_is_inactive(
    api: Any, gateway: dict[str, str], name: str, value: Any
) -> None:
    client, secret = service_client_create(name="billing", audiences=["billing-api"])
    issued = oauth(
        api, "/api/oauth/token/", basic(client.client_id, secret), grant_type="client_credentials"
    )
    genuine = decoded(issued.json()["access_token"])
    assert oauth(api, "/api/oauth/introspect/", gateway, token=mint(genuine)).json()["active"]
    token = mint(spoil({**genuine, "tid": str(uuid.uuid4()), "tenant": "acme"}, name, value))
    assert oauth(api, "/api/oauth/introspect/", gateway, token=token).json() == {"active": False}
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (me.status_code, me.json()["code"]) == (401, "token_not_valid")


def test_a_time_far_in_the_future_is_refused_by_the_cache_too(
    api: Any, signed_in: dict[str, Any]
) -> None:
    """A refused token is never cached: the second request is refused as the first was."""
    token = mint({**decoded(signed_in["access"]), "exp": int(time.time()) + FAR})
    for _ in range(2):
        me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert me.status_code == 401


@pytest.mark.parametrize(("name", "value"), [("none", None), *ACCESS_SPOILS], ids=_id)
def test_iam_client_and_the_iam_agree(
    api: Any, signed_in: dict[str, Any], name: str, value: Any
) -> None:
    """``packages/iam-client`` applies the same claim rules: what the IAM refuses, it refuses;
    the genuine token (``none`` spoilt) both accept."""
    from iam_client import TokenError, Verifier

    from iam.core.conf import iam_settings

    jwks = api.get("/.well-known/jwks.json").json()
    verifier = Verifier(
        iam_settings.issuer, iam_settings.audience, http_fetch=lambda url: jwks, cache_size=0
    )
    genuine = decoded(signed_in["access"])
    token = mint(genuine if name == "none" else spoil(genuine, name, value))
    iam_accepts = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    verdicts = []
    for check in (verifier.verify, verifier.verify_with_pyjwt):
        try:
            check(token)
        except TokenError:
            verdicts.append(False)
        else:
            verdicts.append(True)
    assert verdicts == [iam_accepts, iam_accepts] == [name == "none"] * 2
