"""Signing keys: encrypted at rest, rotated without downtime, published as a JWK Set."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from iam.core import crypto
from iam.tokens import keys as key_ring_module
from iam.tokens.keys import key_ring
from iam.tokens.models import SigningKey
from iam.tokens.services import (
    prepublish_period,
    signing_key_revoke,
    signing_keys_rotate,
)
from tests.conftest import me

pytestmark = pytest.mark.django_db
State = SigningKey.State
RSA_KEYS = SigningKey.objects.filter(algorithm="RS256")


def test_first_rotation_bootstraps_an_active_and_a_next_key(db):
    report = signing_keys_rotate()
    assert len(report.activated) == 2  # one RS256 key for access tokens, one HS256 for refresh
    assert len(report.created) == 4
    for algorithm in ("RS256", "HS256"):
        family = SigningKey.objects.filter(algorithm=algorithm)
        assert family.get(state=State.ACTIVE).kid in report.activated
        assert family.filter(state=State.NEXT).count() == 1


def test_private_key_is_encrypted_at_rest(keys):
    row = RSA_KEYS.get(state=State.ACTIVE)
    blob = bytes(row.private_key_encrypted)
    assert b"PRIVATE KEY" not in blob
    assert b"PRIVATE KEY" in crypto.decrypt(blob)


def test_kid_is_the_rfc7638_thumbprint(keys):
    row = RSA_KEYS.get(state=State.ACTIVE)
    expected = jwt.PyJWK(row.public_jwk).key  # PyJWT parses our JWK
    assert expected.public_numbers().n > 0
    assert row.kid == row.public_jwk["kid"]
    assert len(row.kid) == 43


def test_jwks_publishes_next_and_active_but_no_private_parts(api, keys):
    response = api.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    published = response.json()["keys"]
    assert {k["kid"] for k in published} == set(
        RSA_KEYS.filter(state__in=[State.NEXT, State.ACTIVE]).values_list("kid", flat=True)
    )
    for key in published:
        assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"


def test_jwks_verifies_issued_tokens(api, tokens):
    jwks = jwt.PyJWKSet.from_dict(api.get("/.well-known/jwks.json").json())
    kid = jwt.get_unverified_header(tokens["access"])["kid"]
    claims = jwt.decode(
        tokens["access"],
        jwks[kid].key,
        algorithms=["RS256"],
        audience="iam-test-api",
        issuer="https://iam.test",
    )
    assert claims["token_type"] == "access"


def test_discovery_document(api, keys):
    doc = api.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == "https://iam.test"
    assert doc["jwks_uri"] == "https://iam.test/.well-known/jwks.json"
    assert "id_token_signing_alg_values_supported" not in doc  # no ID token is issued


def test_next_key_is_not_promoted_before_it_was_published_long_enough(keys):
    report = signing_keys_rotate()
    assert len(report.waiting) == 2
    assert report.activated == []
    assert report.retired == []


def test_rotation_without_downtime(api, tokens):
    """Old tokens keep working through a rotation; new tokens use the prepublished key."""
    old_kid = jwt.get_unverified_header(tokens["access"])["kid"]
    next_kid = RSA_KEYS.get(state=State.NEXT).kid
    later = time.time() + prepublish_period().total_seconds() + 1
    with time_machine.travel(later, tick=False):
        report = signing_keys_rotate()
        assert old_kid in report.retired
        assert next_kid in report.activated
        assert me(api, tokens["access"]).status_code == 200  # signed by the retired key
        refreshed = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
        assert refreshed.status_code == 200  # refresh token signed by the retired key
        assert jwt.get_unverified_header(refreshed.json()["access"])["kid"] == next_kid
        published = {k["kid"] for k in api.get("/.well-known/jwks.json").json()["keys"]}
        assert old_kid in published
        assert next_kid in published
        assert len(published) == 3


def test_retired_key_is_removed_after_its_tokens_expired(api, tokens):
    old_kid = jwt.get_unverified_header(tokens["access"])["kid"]
    start = time.time() + prepublish_period().total_seconds() + 1
    with time_machine.travel(start, tick=False):
        signing_keys_rotate()
    with time_machine.travel(start + 8 * 24 * 3600, tick=False):
        report = signing_keys_rotate(force=True)
        assert old_kid in report.removed
        row = SigningKey.objects.get(kid=old_kid)
        assert row.state == State.REMOVED
        assert bytes(row.private_key_encrypted) == b""
        published = {k["kid"] for k in api.get("/.well-known/jwks.json").json()["keys"]}
        assert old_kid not in published


def test_revoked_key_stops_verifying_at_once(api, tokens):
    assert me(api, tokens["access"]).status_code == 200  # cached
    signing_key_revoke(kid=jwt.get_unverified_header(tokens["access"])["kid"])
    assert me(api, tokens["access"]).status_code == 401
    assert RSA_KEYS.filter(state=State.ACTIVE).exists()  # service keeps signing


def test_key_created_by_another_process_is_picked_up(api, user, login, monkeypatch):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    tokens = login(api).json()
    ring_before = key_ring()
    # Another process rotates twice: a key this process has never loaded now signs.
    monkeypatch.setattr("iam.tokens.services.key_ring_clear", lambda: None)
    signing_keys_rotate(force=True)
    signing_keys_rotate(force=True)
    assert key_ring() is ring_before
    new = RSA_KEYS.get(state=State.ACTIVE)
    assert new.kid not in ring_before.verifying_keys
    private = load_pem_private_key(crypto.decrypt(bytes(new.private_key_encrypted)), None)
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    signed_elsewhere = jwt.encode(
        claims, private, algorithm="RS256", headers={"kid": new.kid, "typ": "at+jwt"}
    )
    with time_machine.travel(time.time() + 3, tick=False):
        assert me(api, signed_elsewhere).status_code == 200
    assert new.kid in key_ring().verifying_keys


def test_unknown_kid_reloads_are_rate_limited(keys, monkeypatch):
    loads = []
    real = key_ring_module._load
    monkeypatch.setattr(key_ring_module, "_load", lambda prev: loads.append(1) or real(prev))
    key_ring()
    for _ in range(50):
        assert key_ring_module.verifying_key("no-such-kid") is None
    assert len(loads) == 1  # a flood of unknown kids cannot hammer the database


def test_keys_are_parsed_once_per_process(keys, monkeypatch):
    from cryptography.hazmat.primitives import serialization

    parses = []
    real = serialization.load_pem_private_key
    monkeypatch.setattr(
        key_ring_module.serialization,
        "load_pem_private_key",
        lambda *a, **k: parses.append(1) or real(*a, **k),
    )
    for _ in range(3):
        key_ring_module.signing_key()
    ring = key_ring()
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        key_ring_module.signing_key()  # a periodic reload reuses the loaded key object
        assert key_ring() is not ring
    assert parses == [1]


def test_production_without_a_key_fails_closed(api, user, db):
    response = api.post(
        "/api/auth/login/",
        {"email": user.email, "password": "correct horse battery staple", "transport": "body"},
        format="json",
    )
    assert response.status_code == 503
    assert response.json()["code"] == "signing_key_unavailable"


def test_dev_mode_creates_the_first_key(api, user, db, settings):
    settings.IAM_DEV_MODE = True
    response = api.post(
        "/api/auth/login/",
        {"email": user.email, "password": "correct horse battery staple", "transport": "body"},
        format="json",
    )
    assert response.status_code == 200
    assert RSA_KEYS.filter(state=State.ACTIVE).count() == 1
    assert SigningKey.objects.filter(algorithm="HS256", state=State.ACTIVE).count() == 1


def test_management_command(db, capsys):
    call_command("rotate_signing_keys")
    out = capsys.readouterr().out
    assert "active" in out
    assert "created" in out
    call_command("rotate_signing_keys", "--list")
    assert "next" in capsys.readouterr().out


def test_management_command_revoke(keys, capsys):
    kid = RSA_KEYS.get(state=State.ACTIVE).kid
    call_command("rotate_signing_keys", f"--revoke={kid}")  # a kid may start with "-"
    assert SigningKey.objects.get(kid=kid).state == State.REMOVED
    assert RSA_KEYS.filter(state=State.ACTIVE).exclude(kid=kid).exists()
    assert f"revoked {kid}" in capsys.readouterr().out


def test_if_missing_makes_the_first_keys_and_never_rotates(db, capsys):
    """The one-shot step of every deploy (deploy/): the first keys once, then nothing."""
    call_command("rotate_signing_keys", "--if-missing", "--force")
    first = set(SigningKey.objects.filter(state=State.ACTIVE).values_list("kid", flat=True))
    assert len(first) == 2  # RS256 and HS256
    capsys.readouterr()
    call_command("rotate_signing_keys", "--if-missing", "--force")  # even forced: keys exist
    again = set(SigningKey.objects.filter(state=State.ACTIVE).values_list("kid", flat=True))
    assert again == first
    lines = capsys.readouterr().out.splitlines()
    assert not [line for line in lines if line.startswith(("created", "active"))]
    # a family that lost its active key (both revoked) gets one, the other is left alone
    hs256 = SigningKey.objects.get(algorithm="HS256", state=State.ACTIVE).kid
    call_command("rotate_signing_keys", f"--revoke={hs256}")
    SigningKey.objects.filter(algorithm="HS256", state=State.ACTIVE).update(state=State.REMOVED)
    call_command("rotate_signing_keys", "--if-missing")
    assert RSA_KEYS.get(state=State.ACTIVE).kid in first
    assert SigningKey.objects.get(algorithm="HS256", state=State.ACTIVE).kid not in first
