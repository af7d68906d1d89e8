"""Differential test: the lean verifier and the PyJWT-based reference agree on every case.

Runs on the real clock (PyJWT reads the system time), one fault per token."""

from __future__ import annotations

import time

import jwt
from kit import AUDIENCE, ISSUER, FakeIssuer, refresh_claims, service_claims, sign, user_claims

from iam_client import TokenError, Verifier


def outcome(check, token: str) -> str:
    try:
        principal = check(token)
    except TokenError as exc:
        return exc.code
    return f"ok:{principal.kind}"


def cases(key_a, key_b) -> list[tuple[str, str]]:
    now = time.time()
    user, service = user_claims(now), service_claims(now)

    def without(claims: dict, name: str) -> dict:
        return {k: v for k, v in claims.items() if k != name}

    header, payload, signature = sign(user, key_a).split(".")
    rs512 = {"kid": key_a.kid, "typ": "at+jwt"}
    return [
        ("ok:user", sign(user, key_a)),
        ("ok:service", sign(service, key_a)),
        ("wrong_audience", sign(user_claims(now, aud=["x", AUDIENCE]), key_a)),
        ("wrong_audience", sign(user_claims(now, aud=[AUDIENCE]), key_a)),
        ("token_invalid", sign(user_claims(now, exp=str(int(now) + 60)), key_a)),
        ("token_invalid", sign(user_claims(now, sid="not-a-uuid"), key_a)),
        ("token_invalid", sign(user_claims(now, auth_time="yesterday"), key_a)),
        ("ok:user", sign(user_claims(now, exp=int(now) - 5), key_a)),  # within leeway
        ("token_expired", sign(user_claims(now, exp=int(now) - 60), key_a)),
        ("token_invalid", sign(user_claims(now, nbf=int(now) + 60), key_a)),
        ("token_invalid", sign(user_claims(now, iat=int(now) + 60), key_a)),
        ("wrong_issuer", sign(user_claims(now, iss="https://evil.example.com"), key_a)),
        ("wrong_audience", sign(user_claims(now, aud="other-api"), key_a)),
        ("wrong_token_type", sign(user, key_a, typ="JWT")),
        ("wrong_token_type", sign(user_claims(now, token_type="refresh"), key_a)),
        ("wrong_token_type", sign(refresh_claims(now), key_a, typ="refresh+jwt")),
        ("unknown_key", sign(user, key_b)),
        ("token_invalid", f"{header}.{payload}.{signature[:-6]}AAAAAA"),
        ("token_invalid", jwt.encode(user, key_a.private, algorithm="RS512", headers=rs512)),
        *[
            ("token_invalid", sign(without(user, name), key_a))
            for name in ("exp", "iat", "iss", "aud", "sub", "jti")
        ],
        ("token_invalid", "not-a-token"),
    ]


def test_verify_and_the_pyjwt_reference_agree(key_a, key_b):
    verifier = Verifier(
        ISSUER, AUDIENCE, http_fetch=FakeIssuer(published=[key_a]).fetch, cache_size=0
    )
    seen = [
        (expected, outcome(verifier.verify, token), outcome(verifier.verify_with_pyjwt, token))
        for expected, token in cases(key_a, key_b)
    ]
    assert [row for row in seen if not row[0] == row[1] == row[2]] == []
    assert {row[0] for row in seen} >= {"ok:user", "ok:service", "token_expired", "unknown_key"}


def test_both_paths_build_the_same_principal(key_a):
    verifier = Verifier(ISSUER, AUDIENCE, http_fetch=FakeIssuer(published=[key_a]).fetch)
    for claims in (user_claims(time.time()), service_claims(time.time(), scope="a b")):
        token = sign(claims, key_a)
        fast, reference = verifier.verify(token), verifier.verify_with_pyjwt(token)
        assert fast == reference
        assert dict(fast.claims) == dict(reference.claims) == claims
