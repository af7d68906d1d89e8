"""Access-token validation with a bounded cache keyed by the token itself.

A browser or app presents the same access token for its whole lifetime; re-verifying the RSA
signature every time is wasted work. A hit costs a dict lookup and an ``exp`` comparison. The
cache is emptied whenever the key ring changes a key's publication (a revoked key's tokens stop
verifying at once). Revocation of sessions is not cached: it is checked on every request.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rest_framework_simplejwt.exceptions import TokenError

from iam.core.conf import iam_settings, on_settings_reset
from iam.core.exceptions import TokenInvalid
from iam.tokens.keys import KeyRing, on_key_ring_reload
from iam.tokens.tokens import AccessToken

MAX_TOKEN_LENGTH = 8192


class TokenCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[dict[str, Any], float]] = {}
        self._lock = threading.Lock()

    def get(self, raw: str) -> dict[str, Any] | None:
        entry = self._entries.get(raw)
        if entry is None:
            return None
        payload, expires = entry
        if time.time() >= expires:
            with self._lock:
                self._entries.pop(raw, None)
            return None
        return payload

    def put(self, raw: str, payload: dict[str, Any], expires: float) -> None:
        limit = iam_settings.token_cache_size
        if limit <= 0:
            return
        with self._lock:
            while len(self._entries) >= limit:
                self._entries.pop(next(iter(self._entries)))
            self._entries[raw] = (payload, expires)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


access_token_cache = TokenCache()
on_settings_reset(access_token_cache.clear)


def _on_reload(old: KeyRing, new: KeyRing) -> None:
    if set(old.verifying_keys) - set(new.verifying_keys):
        access_token_cache.clear()


on_key_ring_reload(_on_reload)


def access_token_validate(raw: str) -> AccessToken:
    """The validated access token (signature, typ, iss, aud, exp, token_type) or TokenInvalid."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        raise TokenInvalid()
    payload = access_token_cache.get(raw)
    if payload is not None:
        return AccessToken.from_validated(raw, payload)
    try:
        token = AccessToken(raw)  # type: ignore[arg-type]  # SimpleJWT takes the string
    except TokenError as exc:
        raise TokenInvalid() from exc
    if not isinstance(token.payload.get("sid"), str):
        raise TokenInvalid()
    expires = token.payload["exp"] + iam_settings.leeway.total_seconds()
    access_token_cache.put(raw, token.payload, expires)
    return token
