"""Verifier.verify: what it accepts, what it refuses (and with which code), attacks included."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import FrozenInstanceError

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from kit import AUDIENCE, ISSUER, T0, b64url, refresh_claims, segments, service_claims, user_claims

from iam_client import (
    FetchRequired,
    Principal,
    TokenError,
    TokenExpired,
    TokenInvalid,
    Verifier,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
)


def code_of(verifier: Verifier, token: str) -> str:
    with pytest.raises(TokenError) as info:
        verifier.verify(token)
    return info.value.code


# -- accepted ------------------------------------------------------------------------------


def test_user_token_gives_a_user_principal(verifier, tokens, clock):
    claims = user_claims(clock.now, is_staff=True)
    token = tokens.raw(claims)

    principal = verifier.verify(token)

    assert isinstance(principal, Principal)
    assert principal.kind == "user"
    assert principal.is_user
    assert not principal.is_service
    assert principal.subject == principal.user_id == claims["sub"]
    assert principal.client_id is None
    assert principal.session_id == claims["sid"]
    assert principal.email == "ada@example.com"
    assert principal.tenant_id == claims["tid"]
    assert principal.tenant == "acme"
    assert principal.roles == ("admin",)
    assert principal.perms == frozenset({"billing.read", "members.read"})
    assert principal.scopes == frozenset()
    assert principal.is_staff is True
    assert principal.claims["amr"] == ["pwd"]
    assert principal.claims["jti"] == claims["jti"]


def test_user_token_without_tenant_has_no_tenant_access(verifier, clock, tokens):
    claims = user_claims(clock.now)
    for name in ("tid", "tenant", "roles", "perms"):
        del claims[name]

    principal = verifier.verify(tokens.raw(claims))

    assert principal.tenant_id is None
    assert principal.tenant is None
    assert principal.roles == ()
    assert principal.perms == frozenset()
    assert not principal.has_perms("billing.read")
    assert not principal.has_role("admin")


def test_service_token_gives_a_service_principal(verifier, clock, tokens):
    tid = str(uuid.uuid4())
    claims = service_claims(clock.now, tid=tid, tenant="acme")

    principal = verifier.verify(tokens.raw(claims))

    assert principal.kind == "service"
    assert principal.is_service
    assert principal.subject == principal.client_id == claims["client_id"]
    assert principal.user_id is None
    assert principal.session_id is None
    assert principal.email is None
    assert principal.scopes == frozenset({"orders.read", "orders.write"})
    assert principal.tenant_id == tid
    assert principal.tenant == "acme"
    assert principal.roles == ()
    assert principal.perms == frozenset()
    assert principal.is_staff is False


def test_service_token_with_empty_scope_has_no_scopes(verifier, tokens):
    assert verifier.verify(tokens.service(scope="")).scopes == frozenset()


def test_service_token_without_tenant(verifier, tokens):
    principal = verifier.verify(tokens.service())
    assert principal.tenant_id is None
    assert principal.tenant is None


def test_audience_list_accepts_any_of_them(make_verifier, tokens):
    verifier = make_verifier(audience=["orders-api", AUDIENCE])
    assert verifier.verify(tokens.user()).kind == "user"
    assert verifier.verify(tokens.service(aud="orders-api")).kind == "service"


@pytest.mark.parametrize("aud", [[AUDIENCE], ["other-api", AUDIENCE], []])
def test_aud_claim_as_a_list_is_refused_even_when_it_names_us(verifier, tokens, aud):
    """The contract says a string, and the IAM never issues a list (nor accepts one): a list is
    refused as another service's token (the IAM's tests check its side)."""
    assert code_of(verifier, tokens.user(aud=aud)) == "wrong_audience"
    assert code_of(verifier, tokens.service(aud=aud)) == "wrong_audience"


def test_unknown_claims_are_ignored(verifier, tokens):
    principal = verifier.verify(tokens.user(future_claim={"x": 1}))
    assert principal.claims["future_claim"] == {"x": 1}


def test_principal_is_immutable(verifier, tokens):
    principal = verifier.verify(tokens.user())
    with pytest.raises(FrozenInstanceError):
        principal.subject = "someone-else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        principal.claims["sub"] = "someone-else"  # type: ignore[index]


# -- tampering and algorithm attacks -------------------------------------------------------


def test_tampered_payload_is_refused(verifier, tokens, clock):
    token = tokens.user()
    header, _, signature = token.split(".")
    forged = user_claims(clock.now, roles=["owner"], perms=["billing.write"])
    payload = b64url(json.dumps(forged).encode())

    assert code_of(verifier, f"{header}.{payload}.{signature}") == "token_invalid"


def test_tampered_signature_is_refused(verifier, tokens):
    header, payload, signature = tokens.user().split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]

    assert code_of(verifier, f"{header}.{payload}.{flipped}") == "token_invalid"


def test_signature_from_another_token_is_refused(verifier, tokens):
    first, second = tokens.user().split("."), tokens.user().split(".")
    assert code_of(verifier, ".".join([first[0], first[1], second[2]])) == "token_invalid"


def test_key_id_pointing_at_another_key_is_refused(verifier, tokens, key_a, key_b, issuer):
    issuer.published = [key_a, key_b]
    token = jwt.encode(
        user_claims(tokens.clock.now),
        key_b.private,
        algorithm="RS256",
        headers={"kid": key_a.kid, "typ": "at+jwt"},
    )
    assert code_of(verifier, token) == "token_invalid"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(verifier, tokens, key_a, clock, alg):
    unsigned = segments({"alg": alg, "kid": key_a.kid, "typ": "at+jwt"}, user_claims(clock.now))
    assert code_of(verifier, unsigned + ".") == "token_invalid"
    assert code_of(verifier, unsigned + "." + b64url(b"x")) == "token_invalid"


def test_hs256_with_the_public_key_as_secret_is_refused(verifier, key_a, clock):
    """The classic key-confusion attack: HMAC keyed with the public key's PEM (or JWK n)."""
    pem = key_a.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = segments(
        {"alg": "HS256", "kid": key_a.kid, "typ": "at+jwt"}, user_claims(clock.now)
    )
    for secret in (pem, key_a.jwk["n"].encode()):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert code_of(verifier, signing_input + "." + b64url(mac)) == "token_invalid"


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256"])
def test_other_rsa_algorithms_are_refused(verifier, key_a, clock, alg):
    token = jwt.encode(
        user_claims(clock.now),
        key_a.private,
        algorithm=alg,
        headers={"kid": key_a.kid, "typ": "at+jwt"},
    )
    assert code_of(verifier, token) == "token_invalid"


def test_crit_header_is_refused(verifier, tokens, clock):
    token = tokens.raw(user_claims(clock.now), crit=["exp"])
    assert code_of(verifier, token) == "token_invalid"


def test_missing_kid_is_refused(verifier, key_a, clock):
    token = jwt.encode(
        user_claims(clock.now), key_a.private, algorithm="RS256", headers={"typ": "at+jwt"}
    )
    assert code_of(verifier, token) == "token_invalid"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "...",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "Bearer eyJ.eyJ.sig",
        "é.é.é",
        "a" * 10_000,
    ],
)
def test_malformed_tokens_are_refused(verifier, garbage):
    assert code_of(verifier, garbage) == "token_invalid"


def test_non_string_token_is_refused(verifier):
    with pytest.raises(TokenInvalid):
        verifier.verify(b"abc.def.ghi")  # type: ignore[arg-type]


def test_whitespace_or_padding_inside_a_valid_token_is_refused(verifier, tokens):
    header, payload, signature = tokens.user().split(".")
    for variant in (
        f"{header}.{payload}.{signature}=",
        f"{header}.{payload}.{signature} ",
        f"{header}.{payload}.{signature[:20]}\n{signature[20:]}",
        f"{header}.{payload}.{signature.replace('-', '+').replace('_', '/')}",
    ):
        if variant.split(".")[2] == signature:
            continue  # nothing to replace in this signature
        assert code_of(verifier, variant) == "token_invalid"


def test_payload_that_is_not_an_object_is_refused(verifier, key_a):
    token = jwt.api_jws.encode(
        b"[1, 2, 3]", key_a.private, algorithm="RS256", headers={"kid": key_a.kid, "typ": "at+jwt"}
    )
    assert code_of(verifier, token) == "token_invalid"


# -- issuer, audience, type ----------------------------------------------------------------


def test_wrong_issuer_is_refused(verifier, tokens):
    with pytest.raises(WrongIssuer):
        verifier.verify(tokens.user(iss="https://evil.example.com"))
    assert code_of(verifier, tokens.user(iss=ISSUER + "/")) == "wrong_issuer"


@pytest.mark.parametrize("aud", ["other-api", ISSUER, ["other-api"], [], [None], 7, ""])
def test_wrong_audience_is_refused(verifier, tokens, aud):
    with pytest.raises(WrongAudience):
        verifier.verify(tokens.user(aud=aud))


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "refresh+jwt", "AT+JWT", "application/at+jwt"])
def test_wrong_typ_is_refused(verifier, tokens, typ):
    with pytest.raises(WrongTokenType):
        verifier.verify(tokens.user(typ=typ))


@pytest.mark.parametrize("token_type", ["refresh", "id", "", None, "ACCESS"])
def test_wrong_token_type_claim_is_refused(verifier, tokens, token_type):
    assert code_of(verifier, tokens.user(token_type=token_type)) == "wrong_token_type"


def test_missing_token_type_claim_is_refused(verifier, tokens, clock):
    claims = user_claims(clock.now)
    del claims["token_type"]
    assert code_of(verifier, tokens.raw(claims, typ="at+jwt")) == "wrong_token_type"


def test_refresh_token_is_always_refused(make_verifier, tokens, clock):
    refresh = tokens.refresh()
    assert code_of(make_verifier(), refresh) == "wrong_token_type"
    # even by a verifier that (wrongly) accepts the issuer as an audience
    assert code_of(make_verifier(audience=[AUDIENCE, ISSUER]), refresh) == "wrong_token_type"
    # and even with a forged access typ (the IAM never signs that, but still)
    mixed = tokens.raw(refresh_claims(clock.now), typ="at+jwt")
    assert code_of(make_verifier(audience=[AUDIENCE, ISSUER]), mixed) == "wrong_token_type"


# -- required claims and their types -------------------------------------------------------


@pytest.mark.parametrize("name", ["exp", "iat", "iss", "aud", "sub", "jti"])
def test_missing_required_claim_is_refused(verifier, tokens, clock, name):
    claims = user_claims(clock.now)
    del claims[name]
    with pytest.raises(TokenInvalid):
        verifier.verify(tokens.raw(claims, typ="at+jwt"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("exp", "2030-01-01"),
        ("exp", True),
        ("exp", None),
        ("exp", float("nan")),
        ("exp", float("inf")),
        ("iat", "now"),
        ("iat", float("nan")),
        ("nbf", "later"),
        ("nbf", None),
        ("sub", 42),
        ("sub", ""),
        ("jti", None),
        ("sid", 7),
        ("roles", "admin"),
        ("roles", ["admin", 1]),
        ("perms", {"billing.read": True}),
        ("tid", 5),
        # as the IAM refuses them (src/iam/tokens/claims.py, tests/tokens/test_malformed_claims.py)
        ("exp", 10**20),  # beyond any datetime
        ("exp", -1),
        ("iat", 1.5e300),
        ("sid", "not-a-uuid"),
        ("sid", "4F1C3B8E-0B4A-4C53-9E57-1C1A4E2E9D11"),  # not the canonical form
        ("sub", "not-a-uuid"),
        ("tid", "acme"),
        ("tenant", ""),
        ("auth_time", "yesterday"),
        ("auth_time", 10**20),
        ("amr", "pwd"),
        ("amr", ["pwd", 1]),
        ("email", 5),
        ("email_verified", "yes"),
        ("is_staff", 1),
        ("client_id", 5),
        ("scope", ["a"]),
    ],
)
def test_claim_of_the_wrong_type_is_refused(verifier, tokens, clock, name, value):
    claims = user_claims(clock.now, **{name: value})
    token = tokens.raw(claims, typ="at+jwt")
    with pytest.raises(TokenInvalid):
        verifier.verify(token)
    with pytest.raises(TokenInvalid):
        verifier.verify_with_pyjwt(token)


@pytest.mark.parametrize(("name", "value"), [("exp", "9999999999"), ("tid", "acme"), ("iat", -5)])
def test_service_claim_of_the_wrong_type_is_refused(verifier, tokens, name, value):
    token = tokens.service(**{"tid": str(uuid.uuid4()), "tenant": "acme", name: value})
    assert code_of(verifier, token) == "token_invalid"


@pytest.mark.parametrize("missing", ["tid", "tenant", "roles", "perms"])
def test_partial_tenant_claims_are_refused(verifier, tokens, clock, missing):
    claims = user_claims(clock.now)
    del claims[missing]
    assert code_of(verifier, tokens.raw(claims, typ="at+jwt")) == "token_invalid"


def test_token_that_is_neither_user_nor_service_is_refused(verifier, tokens, clock):
    claims = user_claims(clock.now)
    del claims["sid"]
    assert code_of(verifier, tokens.raw(claims, typ="at+jwt")) == "token_invalid"


@pytest.mark.parametrize(
    "overrides",
    [{"sub": "svc_other"}, {"client_id": 5}, {"scope": ["a"]}, {"tid": str(uuid.uuid4())}],
)
def test_malformed_service_token_is_refused(verifier, tokens, overrides):
    assert code_of(verifier, tokens.service(**overrides)) == "token_invalid"


def test_token_with_sid_and_client_id_is_a_user_token(verifier, tokens):
    principal = verifier.verify(tokens.user(client_id="svc_web"))
    assert principal.kind == "user"
    assert principal.client_id == "svc_web"


# -- time ----------------------------------------------------------------------------------


def test_expiry_honours_the_leeway_to_the_second(make_verifier, tokens, clock):
    token = tokens.user(exp=int(T0) + 100)
    verifier = make_verifier(cache_size=0, leeway=10)

    clock.now = T0 + 109.999
    assert verifier.verify(token).kind == "user"
    clock.now = T0 + 110
    with pytest.raises(TokenExpired) as info:
        verifier.verify(token)
    assert info.value.code == "token_expired"


def test_zero_leeway_refuses_at_exp(make_verifier, tokens, clock):
    token = tokens.user(exp=int(T0) + 100)
    verifier = make_verifier(leeway=0, cache_size=0)
    clock.now = T0 + 99.9
    verifier.verify(token)
    clock.now = T0 + 100
    assert code_of(verifier, token) == "token_expired"


def test_nbf_in_the_future_is_refused_beyond_the_leeway(make_verifier, tokens, clock):
    verifier = make_verifier(cache_size=0)
    assert code_of(verifier, tokens.user(nbf=int(T0) + 11)) == "token_invalid"
    assert verifier.verify(tokens.user(nbf=int(T0) + 10)).kind == "user"


def test_iat_in_the_future_is_refused_beyond_the_leeway(make_verifier, tokens, clock):
    verifier = make_verifier(cache_size=0)
    assert code_of(verifier, tokens.user(iat=int(T0) + 11)) == "token_invalid"
    assert verifier.verify(tokens.user(iat=int(T0) + 10)).kind == "user"


def test_float_times_are_accepted(verifier, tokens):
    assert verifier.verify(tokens.user(exp=T0 + 60.5, iat=T0 - 0.5)).kind == "user"


# -- construction --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": ""},
        {"audience": ""},
        {"audience": []},
        {"leeway": -1},
        {"leeway": float("nan")},
        {"cache_size": -1},
        {"jwks_max_age": float("inf")},
    ],
)
def test_bad_configuration_is_refused(kwargs):
    args = {"issuer": ISSUER, "audience": AUDIENCE, **kwargs}
    with pytest.raises(ValueError, match=r"."):
        Verifier(args.pop("issuer"), args.pop("audience"), **args)


def test_default_fetcher_refuses_non_http_urls():
    with pytest.raises(ValueError, match="http"):
        Verifier(ISSUER, AUDIENCE, jwks_url="file:///etc/passwd")


def test_jwks_url_defaults_to_the_well_known_path():
    assert Verifier(ISSUER + "/", AUDIENCE).jwks_url == ISSUER + "/.well-known/jwks.json"


def test_verify_without_fetching_signals_the_need(verifier, tokens, issuer):
    token = tokens.user()
    with pytest.raises(FetchRequired):
        verifier.verify(token, allow_fetch=False)
    assert issuer.fetches == 0
    assert verifier.verify(token).kind == "user"
    assert verifier.verify(tokens.user(), allow_fetch=False).kind == "user"
    assert issuer.fetches == 1
