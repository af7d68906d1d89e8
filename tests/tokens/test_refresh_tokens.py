"""Refresh tokens signed with HS256 by a secret only the IAM holds: their format, the key
family's rotation and revocation, and the confusion attacks between the two token classes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from django.core.cache import cache
from django.core.management import call_command

from iam.core import crypto
from iam.sessions.models import DeviceSession
from iam.tokens import keys as key_ring_module
from iam.tokens.keys import key_ring, refresh_signing_secret, signing_key
from iam.tokens.models import SigningKey
from iam.tokens.services import (
    prepublish_period,
    retired_publish_period,
    signing_key_revoke,
    signing_keys_rotate,
)

pytestmark = pytest.mark.django_db
State = SigningKey.State
HS_KEYS = SigningKey.objects.filter(algorithm="HS256")
REFRESH_PATHS = ["/api/auth/refresh/", "/api/token/refresh/"]


def refresh(api, token, path="/api/auth/refresh/"):
    return api.post(path, {"refresh": token}, format="json")


def me(api, access):
    return api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {access}")


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def hand_signed(header: dict, claims: dict, secret: bytes) -> str:
    """HS256 by hand, with any bytes as the secret (PyJWT refuses PEM-looking secrets; an
    attacker's own code does not)."""
    signing_input = (
        b64(json.dumps(header, separators=(",", ":")).encode())
        + b"."
        + b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


def unsigned(token: str) -> tuple[dict, dict]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def public_key_material() -> list[bytes]:
    """Everything public about the RS256 keys that an attacker could try as an HMAC secret."""
    kid = key_ring().signing_kid
    public = key_ring().verifying_keys[kid]
    jwk = SigningKey.objects.get(kid=kid).public_jwk
    return [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(jwk).encode(),
        base64.urlsafe_b64decode(jwk["n"] + "=="),
        kid.encode(),
        b"",
    ]


def assert_not_a_refresh_token(api, token, *, session_stays_live=True):
    for path in REFRESH_PATHS:
        cache.clear()  # many attempts per test: stay under the per-IP limit of unusable tokens
        response = refresh(api, token, path)
        assert response.status_code == 401, (path, response.content)
        assert response.json()["code"] == "token_not_valid"
    if session_stays_live:  # an unauthentic token revokes nothing
        assert not DeviceSession.objects.filter(revoked_at__isnull=False).exists()


# --- format -----------------------------------------------------------------------------------


def test_refresh_token_is_hs256_with_the_active_secret(tokens):
    header, claims = unsigned(tokens["refresh"])
    active = HS_KEYS.get(state=State.ACTIVE)
    assert header == {"alg": "HS256", "kid": active.kid, "typ": "refresh+jwt"}
    secret = crypto.decrypt(bytes(active.private_key_encrypted))
    assert len(secret) == 32
    verified = jwt.decode(
        tokens["refresh"], secret, algorithms=["HS256"], audience="https://iam.test"
    )
    assert verified["token_type"] == "refresh"
    assert verified == claims


def test_refresh_secret_is_encrypted_and_never_published(api, tokens):
    for row in HS_KEYS:
        assert row.public_jwk == {}
        secret = crypto.decrypt(bytes(row.private_key_encrypted))
        assert secret not in bytes(row.private_key_encrypted)
    published = api.get("/.well-known/jwks.json").json()["keys"]
    assert {k["kid"] for k in published}.isdisjoint(HS_KEYS.values_list("kid", flat=True))
    assert all(k["alg"] == "RS256" for k in published)
    assert jwt.get_unverified_header(tokens["refresh"])["kid"] not in {k["kid"] for k in published}


def test_access_tokens_stay_rs256(tokens):
    header, _ = unsigned(tokens["access"])
    assert header["alg"] == "RS256"
    assert header["kid"] == key_ring().signing_kid


def test_compatibility_endpoints_issue_and_rotate_hs256_refresh_tokens(api, user, keys):
    pair = api.post(
        "/api/token/",
        {"email": user.email, "password": "correct horse battery staple"},
        format="json",
    ).json()
    assert jwt.get_unverified_header(pair["refresh"])["alg"] == "HS256"
    rotated = refresh(api, pair["refresh"], "/api/token/refresh/")
    assert rotated.status_code == 200
    assert jwt.get_unverified_header(rotated.json()["refresh"])["alg"] == "HS256"
    assert me(api, rotated.json()["access"]).status_code == 200
    verify = api.post("/api/token/verify/", {"token": pair["refresh"]}, format="json")
    assert verify.status_code == 401  # a refresh token is not an access token there either


# --- confusion attacks, both ways ---------------------------------------------------------------


def test_refresh_token_is_refused_wherever_an_access_token_is_expected(api, tokens):
    assert me(api, tokens["refresh"]).status_code == 401
    for path in ("/api/auth/verify/", "/api/token/verify/"):
        assert api.post(path, {"token": tokens["refresh"]}, format="json").status_code == 401


def test_access_token_is_refused_as_a_refresh_token(api, tokens):
    assert_not_a_refresh_token(api, tokens["access"])


def test_access_claims_signed_with_the_refresh_secret_are_not_an_access_token(api, tokens):
    """Whoever holds the refresh secret (the IAM) still cannot mint access tokens with it: the
    access class pins RS256 and looks kids up among the RS256 keys only."""
    header, claims = unsigned(tokens["access"])
    kid, secret = refresh_signing_secret()
    for forged_header in ({**header, "alg": "HS256"}, {**header, "alg": "HS256", "kid": kid}):
        forged = hand_signed(forged_header, claims, secret)
        assert me(api, forged).status_code == 401


def test_refresh_claims_signed_with_the_rsa_key_are_not_a_refresh_token(api, tokens):
    """The refresh class pins HS256: an RS256 token with every refresh claim right, even signed
    by the IAM's own RSA key, is refused, and being unauthentic it revokes nothing."""
    _, claims = unsigned(tokens["refresh"])
    kid, private_key = signing_key()
    forged = jwt.encode(
        claims, private_key, algorithm="RS256", headers={"kid": kid, "typ": "refresh+jwt"}
    )
    assert_not_a_refresh_token(api, forged)
    assert refresh(api, tokens["refresh"]).status_code == 200  # the real chain goes on


@pytest.mark.parametrize("kid_of", ["rsa", "refresh"])
def test_hs256_signed_with_public_key_material_is_refused_both_ways(api, tokens, kid_of):
    access_header, access_claims = unsigned(tokens["access"])
    refresh_header, refresh_claims = unsigned(tokens["refresh"])
    kid = key_ring().signing_kid if kid_of == "rsa" else refresh_header["kid"]
    for material in public_key_material():
        as_access = hand_signed(
            {**access_header, "alg": "HS256", "kid": kid}, access_claims, material
        )
        assert me(api, as_access).status_code == 401
        as_refresh = hand_signed({**refresh_header, "kid": kid}, refresh_claims, material)
        assert_not_a_refresh_token(api, as_refresh)


def test_alg_none_is_refused_both_ways(api, tokens):
    for token in (tokens["access"], tokens["refresh"]):
        header, claims = unsigned(token)
        none = (
            b64(json.dumps({**header, "alg": "none"}).encode()).decode()
            + "."
            + b64(json.dumps(claims).encode()).decode()
            + "."
        )
        assert me(api, none).status_code == 401
        assert_not_a_refresh_token(api, none)


def test_forged_copy_of_an_old_token_revokes_nothing_but_the_authentic_one_does(api, tokens):
    """A refresh token names its session by ``sid`` and ``jti`` under the IAM's signature: garbage
    with a victim's sid and an old jti cannot revoke the session, the authentic old token can."""
    rotated = refresh(api, tokens["refresh"]).json()
    header, claims = unsigned(tokens["refresh"])
    with time_machine.travel(time.time() + 6, tick=False):  # past the grace window
        forged = hand_signed(header, claims, b"guessed secret")
        assert_not_a_refresh_token(api, forged)
        assert DeviceSession.objects.get().revoked_at is None
        reused = refresh(api, tokens["refresh"])
        assert reused.status_code == 401
        assert reused.json()["code"] == "token_reused"
        assert DeviceSession.objects.get().revoke_reason == "refresh_reused"
        assert refresh(api, rotated["refresh"]).json()["code"] == "session_revoked"


# --- rotation and revocation of the refresh secret ---------------------------------------------


def test_tokens_of_the_previous_secret_refresh_until_they_expire(api, tokens):
    old_kid = jwt.get_unverified_header(tokens["refresh"])["kid"]
    next_kid = HS_KEYS.get(state=State.NEXT).kid
    start = time.time() + prepublish_period().total_seconds() + 1
    with time_machine.travel(start, tick=False):
        report = signing_keys_rotate()
        assert old_kid in report.retired
        assert next_kid in report.activated
        assert HS_KEYS.get(kid=old_kid).state == State.RETIRED
        rotated = refresh(api, tokens["refresh"])  # signed by the retired secret
        assert rotated.status_code == 200
        assert jwt.get_unverified_header(rotated.json()["refresh"])["kid"] == next_kid
    # a retired secret is accepted as long as a refresh token it signed can live
    assert retired_publish_period("HS256") > timedelta(days=7)
    assert retired_publish_period("RS256") < timedelta(days=1)


def test_a_token_of_the_retired_secret_refreshes_until_the_window_ends(api, user, login):
    stale = login(api).json()["refresh"]
    start = time.time() + prepublish_period().total_seconds() + 1
    with time_machine.travel(start, tick=False):
        signing_keys_rotate()
    window = retired_publish_period("HS256").total_seconds()
    with time_machine.travel(start + window - 60, tick=False):
        assert key_ring_module.refresh_secret(jwt.get_unverified_header(stale)["kid"])
    with time_machine.travel(start + window + 1, tick=False):
        removed = signing_keys_rotate(force=True).removed
        old_kid = jwt.get_unverified_header(stale)["kid"]
        assert old_kid in removed
        row = SigningKey.objects.get(kid=old_kid)
        assert (row.state, bytes(row.private_key_encrypted)) == (State.REMOVED, b"")
        assert_not_a_refresh_token(api, stale)


def test_emergency_revocation_of_the_refresh_secret(api, tokens, capsys):
    kid = jwt.get_unverified_header(tokens["refresh"])["kid"]
    rsa_kid = key_ring().signing_kid
    call_command("rotate_signing_keys", f"--revoke={kid}")
    assert f"revoked {kid}" in capsys.readouterr().out
    assert HS_KEYS.get(kid=kid).state == State.REMOVED
    # every refresh token it signed is refused at once; access tokens are not touched
    assert_not_a_refresh_token(api, tokens["refresh"])
    assert me(api, tokens["access"]).status_code == 200
    assert key_ring().signing_kid == rsa_kid
    # a fresh secret signs from now on
    fresh = HS_KEYS.get(state=State.ACTIVE)
    assert fresh.kid != kid
    relogin = api.post(
        "/api/auth/login/",
        {"email": "alice@example.com", "password": "correct horse battery staple",
         "transport": "body"},
        format="json",
    ).json()  # fmt: skip
    assert jwt.get_unverified_header(relogin["refresh"])["kid"] == fresh.kid
    assert refresh(api, relogin["refresh"]).status_code == 200


def test_revoking_the_rsa_key_leaves_refresh_tokens_working(api, tokens):
    signing_key_revoke(kid=key_ring().signing_kid)
    assert me(api, tokens["access"]).status_code == 401
    rotated = refresh(api, tokens["refresh"])
    assert rotated.status_code == 200
    assert me(api, rotated.json()["access"]).status_code == 200


def test_secret_made_by_another_process_is_picked_up(api, user, login, monkeypatch):
    tokens = login(api).json()
    ring_before = key_ring()
    monkeypatch.setattr("iam.tokens.services.key_ring_clear", lambda: None)
    signing_keys_rotate(force=True, algorithm="HS256")
    signing_keys_rotate(force=True, algorithm="HS256")
    assert key_ring() is ring_before
    new = HS_KEYS.get(state=State.ACTIVE)
    assert new.kid not in ring_before.refresh_secrets
    header, claims = unsigned(tokens["refresh"])
    signed_elsewhere = hand_signed(
        {**header, "kid": new.kid}, claims, crypto.decrypt(bytes(new.private_key_encrypted))
    )
    with time_machine.travel(time.time() + 3, tick=False):
        assert refresh(api, signed_elsewhere).status_code == 200
    assert new.kid in key_ring().refresh_secrets


def test_unknown_refresh_kids_reload_at_most_every_two_seconds(keys, monkeypatch):
    loads = []
    real = key_ring_module._load
    monkeypatch.setattr(key_ring_module, "_load", lambda prev: loads.append(1) or real(prev))
    key_ring()
    for _ in range(50):
        assert key_ring_module.refresh_secret("hs256-no-such-kid") is None
    assert len(loads) == 1


def test_secrets_are_decrypted_once_per_process(keys, monkeypatch):
    decrypts = []
    real = crypto.decrypt
    monkeypatch.setattr(
        key_ring_module.crypto, "decrypt", lambda blob: decrypts.append(1) or real(blob)
    )
    key_ring_module.key_ring_clear()
    for _ in range(3):
        refresh_signing_secret()
    first = len(decrypts)
    with time_machine.travel(time.time() + 300, tick=False):
        refresh_signing_secret()  # a periodic reload keeps what it had
    assert len(decrypts) == first
