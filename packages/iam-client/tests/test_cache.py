"""The verified-token cache: a repeated token is verified once, never served after exp, failures
are not cached, the size is bounded."""

from __future__ import annotations

import threading

import pytest
from kit import T0

import iam_client.verifier as verifier_module
from iam_client import TokenExpired, TokenInvalid, UnknownKey


@pytest.fixture
def signature_checks(monkeypatch):
    """Counts RSA signature verifications."""
    calls = []
    real = verifier_module._verify_signature

    def counting(key, signature, signing_input):
        calls.append(signing_input)
        return real(key, signature, signing_input)

    monkeypatch.setattr(verifier_module, "_verify_signature", counting)
    return calls


def test_repeated_token_is_verified_once(verifier, tokens, signature_checks):
    token = tokens.user()
    first = verifier.verify(token)
    for _ in range(100):
        assert verifier.verify(token) is first
    assert len(signature_checks) == 1
    assert verifier.cached_tokens == 1


def test_cached_token_is_not_served_after_exp_plus_leeway(make_verifier, tokens, clock,
                                                          signature_checks):  # fmt: skip
    verifier = make_verifier(leeway=10, jwks_max_age=10_000)
    token = tokens.user(exp=int(T0) + 100)
    verifier.verify(token)

    clock.now = T0 + 109.999
    verifier.verify(token)
    assert len(signature_checks) == 1

    clock.now = T0 + 110
    with pytest.raises(TokenExpired):
        verifier.verify(token)
    assert verifier.cached_tokens == 0
    with pytest.raises(TokenExpired):
        verifier.verify(token)


def test_failed_tokens_are_not_cached(verifier, tokens, signature_checks):
    header, payload, signature = tokens.user().split(".")
    bad = f"{header}.{payload}.{signature[:-4]}AAAA"
    for _ in range(3):
        with pytest.raises(TokenInvalid):
            verifier.verify(bad)
    assert len(signature_checks) == 3
    assert verifier.cached_tokens == 0

    expired = tokens.user(exp=int(T0) - 60)
    for _ in range(2):
        with pytest.raises(TokenExpired):
            verifier.verify(expired)
    assert verifier.cached_tokens == 0


def test_cache_is_bounded_and_evicts_the_least_recently_used(make_verifier, tokens,
                                                             signature_checks):  # fmt: skip
    verifier = make_verifier(cache_size=3)
    t1, t2, t3, t4 = (tokens.user() for _ in range(4))
    for token in (t1, t2, t3):
        verifier.verify(token)
    verifier.verify(t1)  # t1 is now the most recently used
    verifier.verify(t4)  # evicts t2
    assert verifier.cached_tokens == 3
    assert len(signature_checks) == 4

    verifier.verify(t1)
    verifier.verify(t3)
    assert len(signature_checks) == 4
    verifier.verify(t2)
    assert len(signature_checks) == 5


def test_cache_size_zero_verifies_every_time(make_verifier, tokens, signature_checks):
    verifier = make_verifier(cache_size=0)
    token = tokens.user()
    for _ in range(3):
        verifier.verify(token)
    assert len(signature_checks) == 3
    assert verifier.cached_tokens == 0


def test_clear_cache(verifier, tokens, signature_checks):
    token = tokens.user()
    verifier.verify(token)
    verifier.clear_cache()
    verifier.verify(token)
    assert len(signature_checks) == 2


def test_cached_token_of_a_removed_key_is_refused_at_the_next_jwks_refresh(
    make_verifier, tokens, issuer, clock, key_b
):
    verifier = make_verifier(jwks_max_age=60)
    token = tokens.user()
    verifier.verify(token)
    issuer.published = [key_b]
    clock.advance(60)
    with pytest.raises(UnknownKey):
        verifier.verify(token)


def test_concurrent_use_is_safe(make_verifier, tokens, signature_checks):
    verifier = make_verifier(cache_size=8)
    pool = [tokens.user() for _ in range(16)]
    subjects = {token: verifier.verify(token).subject for token in pool}
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(300):
                token = pool[(i + offset) % len(pool)]
                assert verifier.verify(token).subject == subjects[token]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert verifier.cached_tokens <= 8
