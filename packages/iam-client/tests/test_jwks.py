"""The JWKS cache: one fetch, max-age, refetch on an unknown kid (rate limited), rotation,
revocation, failures, malformed key sets."""

from __future__ import annotations

import threading
import time
import uuid
import warnings

import jwt
import pytest
from kit import AUDIENCE, ISSUER, FakeIssuer, Key, sign, user_claims

from iam_client import JWKSUnavailable, UnknownKey, Verifier


def forged_kid_token(key: Key, now: float) -> str:
    """Validly signed by ``key`` but naming a made-up kid (what a flood would look like)."""
    return jwt.encode(
        user_claims(now),
        key.private,
        algorithm="RS256",
        headers={"kid": uuid.uuid4().hex, "typ": "at+jwt"},
    )


def test_jwks_is_fetched_once_for_many_tokens(verifier, tokens, issuer):
    for _ in range(20):
        verifier.verify(tokens.user())
    assert issuer.fetches == 1
    assert issuer.urls == [ISSUER + "/.well-known/jwks.json"]


def test_jwks_is_refetched_after_max_age(make_verifier, tokens, issuer, clock):
    verifier = make_verifier(jwks_max_age=300, cache_size=0)
    token = tokens.user()
    verifier.verify(token)
    clock.advance(299)
    verifier.verify(token)
    assert issuer.fetches == 1
    clock.advance(1)
    verifier.verify(token)
    assert issuer.fetches == 2


def test_unknown_kid_triggers_exactly_one_refetch_then_fails(verifier, tokens, issuer, key_b):
    verifier.verify(tokens.user())
    assert issuer.fetches == 1
    clock = tokens.clock
    clock.advance(10)  # past the refetch interval

    with pytest.raises(UnknownKey) as info:
        verifier.verify(tokens.user(key=key_b))
    assert info.value.code == "unknown_key"
    assert issuer.fetches == 2
    with pytest.raises(UnknownKey):
        verifier.verify(tokens.user(key=key_b))
    assert issuer.fetches == 2


def test_flood_of_unknown_kids_costs_one_fetch_per_interval(make_verifier, tokens, issuer, key_a):
    verifier = make_verifier(min_refetch_interval=5)
    verifier.verify(tokens.user())
    clock = tokens.clock

    for second in range(30):
        for _ in range(50):
            with pytest.raises(UnknownKey):
                verifier.verify(forged_kid_token(key_a, clock.now))
        assert issuer.fetches == 1 + second // 5  # the first fetch, then one per 5 s
        clock.advance(1)

    assert issuer.fetches == 6


def test_flood_from_many_threads_is_rate_limited_too(key_a):
    """Real clock, slow issuer, 8 threads x made-up kids: one fetch answers them all."""
    issuer = FakeIssuer(published=[key_a])
    fetch_started = threading.Event()

    def slow_fetch(url: str) -> dict:
        fetch_started.set()
        time.sleep(0.05)
        return issuer.fetch(url)

    verifier = Verifier(ISSUER, AUDIENCE, http_fetch=slow_fetch, min_refetch_interval=60)
    now = time.time()
    bad = [forged_kid_token(key_a, now) for _ in range(16)]
    errors: list[str] = []

    def attack() -> None:
        for token in bad * 10:
            try:
                verifier.verify(token)
            except (UnknownKey, JWKSUnavailable) as exc:
                errors.append(exc.code)

    threads = [threading.Thread(target=attack) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert issuer.fetches == 1
    assert len(errors) == 8 * 160
    assert set(errors) == {"unknown_key"}


def test_rotation_new_key_is_picked_up_after_a_refetch(verifier, tokens, issuer, key_a, key_b):
    verifier.verify(tokens.user())  # caches [A]
    issuer.published = [key_a, key_b]  # the IAM publishes B and starts signing with it
    token_b = tokens.user(key=key_b)

    # within the refetch interval the new kid is not looked up yet
    tokens.clock.advance(1)
    with pytest.raises(UnknownKey):
        verifier.verify(token_b)
    assert issuer.fetches == 1

    tokens.clock.advance(5)
    principal = verifier.verify(token_b)
    assert principal.kind == "user"
    assert issuer.fetches == 2
    assert verifier.verify(tokens.user()).kind == "user"  # A still published: still fine
    assert issuer.fetches == 2


def test_next_key_published_ahead_needs_no_refetch(verifier, tokens, issuer, key_a, key_b):
    issuer.published = [key_a, key_b]
    verifier.verify(tokens.user())
    verifier.verify(tokens.user(key=key_b))
    assert issuer.fetches == 1


def test_revoked_key_stops_verifying_after_max_age(make_verifier, tokens, issuer, key_b):
    verifier = make_verifier(jwks_max_age=300)
    token = tokens.user()
    verifier.verify(token)
    issuer.published = [key_b]  # A revoked: gone from the JWKS

    tokens.clock.advance(299)
    assert verifier.verify(token).kind == "user"  # cached JWKS still lists A
    tokens.clock.advance(1)
    with pytest.raises(UnknownKey):
        verifier.verify(token)  # served from the token cache before; not any more
    with pytest.raises(UnknownKey):
        verifier.verify(tokens.user())


def test_fetch_failure_first_time_is_jwks_unavailable(verifier, tokens, issuer):
    issuer.fail = True
    with pytest.raises(JWKSUnavailable) as info:
        verifier.verify(tokens.user())
    assert info.value.code == "jwks_unavailable"
    # rate limited: no new attempt within the interval, still unavailable
    with pytest.raises(JWKSUnavailable):
        verifier.verify(tokens.user())
    assert issuer.fetches == 1

    issuer.fail = False
    tokens.clock.advance(5)
    assert verifier.verify(tokens.user()).kind == "user"
    assert issuer.fetches == 2


def test_cached_keys_keep_working_while_the_issuer_is_down(make_verifier, tokens, issuer, key_b):
    verifier = make_verifier(jwks_max_age=60, cache_size=0)
    verifier.verify(tokens.user())
    issuer.fail = True

    tokens.clock.advance(61)  # stale: refetch attempted, fails, known key still used
    assert verifier.verify(tokens.user()).kind == "user"
    assert issuer.fetches == 2
    for _ in range(10):
        assert verifier.verify(tokens.user()).kind == "user"
    assert issuer.fetches == 2  # retried at most once per interval

    # a kid we do not know cannot be decided while the issuer is down
    tokens.clock.advance(5)
    with pytest.raises(JWKSUnavailable):
        verifier.verify(tokens.user(key=key_b))
    assert issuer.fetches == 3

    issuer.fail = False
    tokens.clock.advance(5)
    assert verifier.verify(tokens.user()).kind == "user"
    assert issuer.fetches == 4


def test_clock_going_backwards_does_not_block_refetching(make_verifier, tokens, issuer, key_a):
    verifier = make_verifier()
    verifier.verify(tokens.user())
    tokens.clock.advance(-3600)
    with pytest.raises(UnknownKey):
        verifier.verify(forged_kid_token(key_a, tokens.clock.now))
    assert issuer.fetches == 2


@pytest.mark.parametrize(
    "document",
    [[], {"keys": None}, {"keys": "nope"}, {"nokeys": []}, "text"],
)
def test_malformed_key_set_counts_as_unavailable(make_verifier, tokens, document):
    verifier = make_verifier(http_fetch=lambda url: document)
    with pytest.raises(JWKSUnavailable):
        verifier.verify(tokens.user())


def test_unusable_keys_are_skipped_not_fatal(make_verifier, tokens, key_a, key_b):
    small = Key.generate(bits=1024)
    document = {
        "keys": [
            "not a dict",
            {**key_b.jwk, "kty": "EC"},
            {**key_b.jwk, "alg": "RS512"},
            {**key_b.jwk, "use": "enc"},
            {**key_b.jwk, "kid": 5},
            {**key_b.jwk, "n": "!!!"},
            small.jwk,
            key_a.jwk,
        ]
    }
    verifier = make_verifier(http_fetch=lambda url: document)
    assert verifier.verify(tokens.user()).kind == "user"
    assert verifier.keys.kids == {key_a.kid}
    tokens.clock.advance(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        token = sign(user_claims(tokens.clock.now), small)
    with pytest.raises(UnknownKey):
        verifier.verify(token)


def test_parsed_keys_are_reused_across_refetches(make_verifier, tokens, issuer, key_a, key_b):
    verifier = make_verifier(jwks_max_age=1)
    verifier.verify(tokens.user())
    before = verifier.keys.get(key_a.kid)
    issuer.published = [key_a, key_b]
    tokens.clock.advance(10)
    verifier.verify(tokens.user(key=key_b))
    assert verifier.keys.get(key_a.kid) is before
    assert verifier.keys.kids == {key_a.kid, key_b.kid}


def test_prefetch_loads_keys_and_reports_failure(make_verifier, issuer):
    verifier = make_verifier()
    verifier.prefetch()
    assert issuer.fetches == 1
    issuer.fail = True
    with pytest.raises(JWKSUnavailable):
        verifier.prefetch()


def test_from_issuer_reads_the_discovery_document(issuer, tokens, clock):
    documents = {
        ISSUER + "/.well-known/openid-configuration": {
            "issuer": ISSUER,
            "jwks_uri": ISSUER + "/keys",
            "token_endpoint": ISSUER + "/api/oauth/token/",
        },
    }

    def fetch(url: str) -> dict:
        return documents[url] if url in documents else issuer.fetch(url)

    verifier = Verifier.from_issuer(ISSUER, AUDIENCE, http_fetch=fetch, clock=clock)
    assert verifier.jwks_url == ISSUER + "/keys"
    assert verifier.verify(tokens.user()).kind == "user"
    assert issuer.urls == [ISSUER + "/keys"]


@pytest.mark.parametrize(
    "document",
    [
        {"issuer": "https://evil.example.com", "jwks_uri": ISSUER + "/keys"},
        {"issuer": ISSUER},
        ["not", "an", "object"],
    ],
)
def test_from_issuer_refuses_a_bad_discovery_document(document):
    with pytest.raises(JWKSUnavailable):
        Verifier.from_issuer(ISSUER, AUDIENCE, http_fetch=lambda url: document)


def test_from_issuer_reports_an_unreachable_issuer():
    def down(url: str) -> dict:
        raise OSError("down")

    with pytest.raises(JWKSUnavailable):
        Verifier.from_issuer(ISSUER, AUDIENCE, http_fetch=down)
