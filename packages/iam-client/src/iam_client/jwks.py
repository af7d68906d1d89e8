"""The issuer's public keys: fetched once, cached, refetched on an unknown ``kid`` (rate limited).

Rules (from the JWT contract):

* the key set is cached for ``max_age`` seconds (the smaller of the configured value and the
  response's ``Cache-Control: max-age`` when the default fetcher is used), then refetched;
* a ``kid`` that is not in the cached set triggers a refetch, at most once every
  ``min_refetch_interval`` seconds for the whole process (every thread, every ``kid``), so a flood
  of tokens with made-up ``kid``\\ s costs the issuer at most one request per interval;
* a failed refetch keeps the keys already known: tokens they signed still verify, and a stale set
  is retried at the same rate;
* one fetch at a time: concurrent misses wait for the fetch in progress and use its result; a
  thread that only wants to refresh a stale set does not wait, it keeps using the stale keys.

Key objects are parsed once (``jwt.PyJWK``) and reused across refetches while the key's
modulus and exponent stay the same.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from iam_client import _http
from iam_client.errors import JWKSUnavailable, UnknownKey

__all__ = ["FetchRequired", "KeySet"]

log = logging.getLogger("iam_client.jwks")

MIN_RSA_BITS = 2048  # RFC 7518 §3.3


class FetchRequired(Exception):
    """Raised by ``verify(..., allow_fetch=False)`` when answering needs a JWKS fetch (blocking
    network I/O). Async callers catch it and retry in a worker thread."""


class KeySet:
    """Thread-safe cache of the issuer's RS256 verification keys, by ``kid``."""

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 300,
        min_refetch_interval: float = 5,
        http_fetch: Callable[[str], Mapping[str, Any]] | None = None,
        timeout: float = _http.DEFAULT_TIMEOUT,
        clock: Callable[[], float],
    ) -> None:
        self.url = _http.check_http_url(url) if http_fetch is None else url
        self.max_age = float(max_age)
        self.min_refetch_interval = float(min_refetch_interval)
        self._http_fetch = http_fetch
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] = {}
        self._numbers: dict[str, tuple[Any, Any]] = {}  # kid -> (n, e): reuse parsed keys
        self._fetched_at: float | None = None
        self._fresh_for = 0.0
        self._last_attempt: float | None = None
        self._last_failed = False
        self._lock = threading.Lock()
        self.fetches = 0  # attempts, successful or not (for monitoring and tests)

    # -- reading ---------------------------------------------------------------------------

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def get(self, kid: str, *, allow_fetch: bool = True) -> RSAPublicKey:
        """The key for ``kid``: UnknownKey if the issuer does not publish it, JWKSUnavailable if
        the key set cannot be fetched and the cached one cannot tell."""
        key = self._keys.get(kid)
        now = self._clock()
        if key is not None and self._is_fresh(now):
            return key
        if key is None and self._lock.locked():  # a fetch in progress may bring it: wait
            if not allow_fetch:
                raise FetchRequired()
            with self._lock:
                key = self._keys.get(kid)
            if key is not None:
                return key
            now = self._clock()
        if not self._may_fetch(now):
            if key is not None:
                return key  # stale, retried later: keep using what the issuer last published
            raise self._miss()
        if not allow_fetch:
            raise FetchRequired()
        self._refresh(wait=key is None)
        found = self._keys.get(kid)
        if found is None:
            raise self._miss()
        return found

    def is_current(self, kid: str, now: float, *, allow_fetch: bool = True) -> bool:
        """Whether ``kid`` is still published (refreshing a stale set without waiting). Used to
        serve cached verifications: a key the issuer revoked stops them after the next fetch."""
        if kid not in self._keys:
            return False
        if not self._is_fresh(now) and self._may_fetch(now):
            if not allow_fetch:
                raise FetchRequired()
            self._refresh(wait=False)
        return kid in self._keys

    def refresh(self) -> None:
        """Fetch the key set now (e.g. at startup, or in a readiness probe), ignoring the rate
        limit; JWKSUnavailable when it fails."""
        with self._lock:
            self._fetch_locked(self._clock())
        if self._last_failed:
            raise JWKSUnavailable()

    # -- internals -------------------------------------------------------------------------

    def _is_fresh(self, now: float) -> bool:
        fetched = self._fetched_at
        return fetched is not None and 0 <= now - fetched < self._fresh_for

    def _may_fetch(self, now: float) -> bool:
        last = self._last_attempt
        # a clock that went backwards must not block refetching until it catches up
        return last is None or not 0 <= now - last < self.min_refetch_interval

    def _miss(self) -> Exception:
        if self._fetched_at is None or self._last_failed:
            return JWKSUnavailable()
        return UnknownKey()

    def _refresh(self, *, wait: bool) -> None:
        if not self._lock.acquire(blocking=wait):
            return  # another thread is fetching; the caller keeps its stale key
        try:
            now = self._clock()
            if self._may_fetch(now):  # not if another thread fetched while we waited
                self._fetch_locked(now)
        finally:
            self._lock.release()

    def _fetch_locked(self, now: float) -> None:
        self._last_attempt = now
        self.fetches += 1
        try:
            document, header_max_age = self._fetch()
            numbers, keys = self._parse(document)
        except Exception as exc:
            self._last_failed = True
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return
        removed = self._keys.keys() - keys.keys()
        if removed:
            log.info("JWKS no longer lists %s", ", ".join(sorted(removed)))
        fresh_for = self.max_age if header_max_age is None else min(self.max_age, header_max_age)
        self._numbers, self._keys = numbers, keys
        self._fresh_for, self._fetched_at, self._last_failed = fresh_for, now, False

    def _fetch(self) -> tuple[Mapping[str, Any], float | None]:
        if self._http_fetch is not None:
            return self._http_fetch(self.url), None
        return _http.get_json(self.url, timeout=self._timeout)

    def _parse(
        self, document: Mapping[str, Any]
    ) -> tuple[dict[str, tuple[Any, Any]], dict[str, RSAPublicKey]]:
        entries = document.get("keys") if isinstance(document, Mapping) else None
        if not isinstance(entries, list):
            raise ValueError("not a JWK set")
        numbers: dict[str, tuple[Any, Any]] = {}
        keys: dict[str, RSAPublicKey] = {}
        for jwk in entries:
            if not isinstance(jwk, dict):
                continue
            kid = jwk.get("kid")
            if (
                not isinstance(kid, str)
                or jwk.get("kty") != "RSA"
                or jwk.get("alg", "RS256") != "RS256"
                or jwk.get("use", "sig") != "sig"
                or kid in keys
            ):
                continue  # not a key for us (or a duplicate kid: keep the first)
            pair = (jwk.get("n"), jwk.get("e"))
            key = self._keys.get(kid) if self._numbers.get(kid) == pair else None
            if key is None:
                try:
                    parsed = jwt.PyJWK(jwk, algorithm="RS256").key
                except (jwt.PyJWTError, ValueError, TypeError) as exc:
                    log.warning("Skipping JWK %s: %s", kid, exc)
                    continue
                if not isinstance(parsed, RSAPublicKey) or parsed.key_size < MIN_RSA_BITS:
                    log.warning("Skipping JWK %s: not an RSA public key of 2048+ bits", kid)
                    continue
                key = parsed
            numbers[kid], keys[kid] = pair, key
        return numbers, keys
