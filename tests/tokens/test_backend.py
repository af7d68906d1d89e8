"""Attacks on token verification: each forged or misused token must be refused."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework_simplejwt.exceptions import TokenBackendError

from iam.core.exceptions import TokenInvalid
from iam.tokens.backend import header_for_key_choice
from iam.tokens.keys import key_ring, signing_key
from iam.tokens.verification import access_token_validate

pytestmark = pytest.mark.django_db

SRC = Path(__file__).resolve().parents[2] / "src" / "iam"


def _parts(token: str) -> tuple[dict, dict]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def _assert_rejected(api, token: str) -> None:
    with pytest.raises(TokenInvalid):
        access_token_validate(token)
    response = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def _resign(token: str, key: object, **header_changes: object) -> str:
    header, claims = _parts(token)
    header.update(header_changes)
    alg = header.pop("alg")
    return jwt.encode(claims, key, algorithm=alg, headers=header)


def test_only_the_backend_module_imports_pyjwt():
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "backend.py"
        and any(
            line.strip().startswith(("import jwt", "from jwt"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_access_token_header_and_claims(tokens):
    header, claims = _parts(tokens["access"])
    assert header == {"alg": "RS256", "kid": key_ring().signing_kid, "typ": "at+jwt"}
    assert claims["iss"] == "https://iam.test"
    assert claims["aud"] == "iam-test-api"
    assert claims["token_type"] == "access"
    assert claims["amr"] == ["pwd"]
    assert set(claims) >= {"sub", "exp", "iat", "jti", "sid", "email", "email_verified"}


def test_alg_none_is_rejected(api, tokens):
    header, claims = _parts(tokens["access"])
    header_b64 = base64.urlsafe_b64encode(json.dumps({**header, "alg": "none"}).encode()).rstrip(
        b"="
    )
    body_b64 = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    _assert_rejected(api, f"{header_b64.decode()}.{body_b64.decode()}.")


def test_hs256_signed_with_the_public_key_is_rejected(api, tokens):
    _, public = signing_key()[0], key_ring().verifying_keys[key_ring().signing_kid]
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, claims = _parts(tokens["access"])
    # PyJWT refuses to HMAC with a PEM key, so forge the signature by hand like an attacker would.
    import hashlib
    import hmac

    head = base64.urlsafe_b64encode(
        json.dumps({**header, "alg": "HS256"}, separators=(",", ":")).encode()
    ).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=")
    signing_input = head + b"." + body
    signature = base64.urlsafe_b64encode(
        hmac.new(pem, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    _assert_rejected(api, (signing_input + b"." + signature).decode())


def test_unknown_key_is_rejected(api, tokens):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _assert_rejected(api, _resign(tokens["access"], stranger))
    _assert_rejected(api, _resign(tokens["access"], stranger, kid="made-up"))


def test_known_kid_with_foreign_signature_is_rejected(api, tokens):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _assert_rejected(api, _resign(tokens["access"], stranger))  # keeps the real kid


@pytest.mark.parametrize(
    ("claim", "value"),
    [("aud", "another-service"), ("iss", "https://evil.test"), ("token_type", "refresh")],
)
def test_wrong_claims_are_rejected_even_when_properly_signed(api, tokens, claim, value):
    _header, claims = _parts(tokens["access"])
    claims[claim] = value
    kid, private_key = signing_key()
    forged = jwt.encode(
        claims, private_key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"}
    )
    _assert_rejected(api, forged)


def test_missing_required_claim_is_rejected(api, tokens):
    _header, claims = _parts(tokens["access"])
    del claims["exp"]
    kid, private_key = signing_key()
    forged = jwt.encode(
        claims, private_key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"}
    )
    _assert_rejected(api, forged)


def test_expired_access_token_is_rejected(api, tokens):
    with time_machine.travel(time.time() + 15 * 60 + 11, tick=False):
        _assert_rejected(api, tokens["access"])


def test_cached_token_still_expires(api, tokens):
    assert access_token_validate(tokens["access"])  # now cached
    with time_machine.travel(time.time() + 15 * 60 + 11, tick=False):
        _assert_rejected(api, tokens["access"])


def test_refresh_token_cannot_be_used_as_access_token(api, tokens):
    _assert_rejected(api, tokens["refresh"])


def test_access_token_cannot_be_used_as_refresh_token(api, tokens):
    response = api.post("/api/auth/refresh/", {"refresh": tokens["access"]}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_refresh_typ_swapped_into_access_is_rejected(api, tokens):
    kid, private_key = signing_key()
    _, claims = _parts(tokens["access"])
    forged = jwt.encode(
        claims, private_key, algorithm="RS256", headers={"kid": kid, "typ": "refresh+jwt"}
    )
    _assert_rejected(api, forged)


def test_tampered_payload_is_rejected(api, tokens):
    head, body, sig = tokens["access"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "00000000-0000-0000-0000-000000000000"
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _assert_rejected(api, f"{head}.{body}.{sig}")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 9000, "ey.ey.ey"])
def test_garbage_is_rejected(api, keys, garbage):
    response = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {garbage}")
    assert response.status_code == 401


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_key_choice_reads_the_header_as_pyjwt_does(tokens):
    for token in (tokens["access"], tokens["refresh"]):
        assert header_for_key_choice(token) == jwt.get_unverified_header(token)


@pytest.mark.parametrize("junk", ["!!!!", "****", "%%%%", "====", "!"])
def test_a_header_with_junk_a_lenient_decoder_skips_is_rejected(api, tokens, junk):
    """The key is chosen from a lenient reading of the header (base64 that skips foreign
    characters reads the same kid); PyJWT's strict reading must still refuse the token."""
    head, body, sig = tokens["access"].split(".")
    tampered = f"{head[:8]}{junk}{head[8:]}.{body}.{sig}"
    if junk == "!!!!":  # the lenient reading sees the genuine header: the key is found
        assert header_for_key_choice(tampered) == jwt.get_unverified_header(tokens["access"])
    _assert_rejected(api, tampered)
    head, body, sig = tokens["refresh"].split(".")
    response = api.post(
        "/api/auth/refresh/", {"refresh": f"{head[:8]}{junk}{head[8:]}.{body}.{sig}"}, format="json"
    )
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.parametrize(
    "head",
    [
        _b64(b"[]"),  # not an object
        _b64(b'"RS256"'),
        _b64(b"[" * 200),  # unbalanced nesting
        _b64(json.dumps({"alg": "RS256", "typ": "at+jwt", "pad": "x" * 600}).encode()),  # long
        "",
        "%%%%",
    ],
)
def test_headers_that_are_no_json_object_or_too_long_are_rejected(api, tokens, head):
    _, body, sig = tokens["access"].split(".")
    with pytest.raises(TokenBackendError):
        header_for_key_choice(f"{head}.{body}.{sig}")
    _assert_rejected(api, f"{head}.{body}.{sig}")


def test_a_token_without_segments_is_rejected_before_any_key_is_chosen():
    for token in ("", "no-dots-at-all", None, b"bytes.are.refused"):
        with pytest.raises(TokenBackendError):
            header_for_key_choice(token)
