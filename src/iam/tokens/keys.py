"""The signing-key ring: keys loaded once per process and reused, never parsed per request.

Two families (``SigningKey.algorithm``): RS256 key pairs sign access tokens and are published in
the JWKS; HS256 secrets sign refresh tokens, which only the IAM verifies, and are never
published. Each token class verifies with its own family only (``iam.tokens.backend``).

The ring is reloaded from the database every ``IAM_KEY_CACHE_SECONDS`` and, rate limited, when a
token names a ``kid`` this process does not know yet (another process rotated). Loaded key objects
are carried over between reloads by ``kid``, so a reload parses only keys that are new.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from iam.core import crypto
from iam.core.conf import iam_settings, on_settings_reset
from iam.core.exceptions import SigningKeyUnavailable
from iam.tokens.models import SigningKey

log = logging.getLogger("iam.keys")

PUBLISHED_STATES = (SigningKey.State.NEXT, SigningKey.State.ACTIVE, SigningKey.State.RETIRED)
UNKNOWN_KID_RELOAD_INTERVAL = 2.0  # seconds; a flood of bad kids cannot hammer the database


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_to_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """The public key as a JWK with an RFC 7638 thumbprint as ``kid``."""
    numbers = public_key.public_numbers()
    members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": "RS256"}


def public_key_from_jwk(jwk: Mapping[str, str]) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(_b64url_to_int(jwk["e"]), _b64url_to_int(jwk["n"])).public_key()


@dataclass(frozen=True, slots=True)
class KeyRing:
    signing_kid: str | None
    signing_key: rsa.RSAPrivateKey | None
    verifying_keys: Mapping[str, rsa.RSAPublicKey]
    jwks_json: bytes
    # HS256: the secret refresh tokens are signed with, and every secret they are accepted with
    refresh_kid: str | None = None
    refresh_secrets: Mapping[str, bytes] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)


_EMPTY = KeyRing(None, None, {}, b'{"keys":[]}', loaded_at=float("-inf"))
RS256, HS256 = SigningKey.Algorithm.RS256, SigningKey.Algorithm.HS256
_ring: KeyRing = _EMPTY
_lock = threading.Lock()
_reload_listeners: list[Callable[[KeyRing, KeyRing], None]] = []


def on_key_ring_reload(callback: Callable[[KeyRing, KeyRing], None]) -> None:
    """Register ``callback(old, new)``, called after every reload (e.g. to drop cached tokens)."""
    _reload_listeners.append(callback)


def _load(previous: KeyRing) -> KeyRing:
    now = timezone.now()
    rows = list(
        SigningKey.objects.filter(state__in=PUBLISHED_STATES).exclude(
            state=SigningKey.State.RETIRED, publish_until__lte=now
        )
    )
    verifying: dict[str, rsa.RSAPublicKey] = {}
    jwks: list[dict[str, str]] = []
    signing_kid, signing_key = None, None
    refresh_kid, refresh_secrets = None, {}
    for row in sorted(rows, key=lambda r: r.created_at):
        if row.algorithm == HS256:
            refresh_secrets[row.kid] = previous.refresh_secrets.get(row.kid) or crypto.decrypt(
                bytes(row.private_key_encrypted)
            )
            if row.state == SigningKey.State.ACTIVE:
                refresh_kid = row.kid
            continue
        if row.algorithm != RS256:
            continue  # a family this version does not know signs nothing and verifies nothing
        verifying[row.kid] = previous.verifying_keys.get(row.kid) or public_key_from_jwk(
            row.public_jwk
        )
        jwks.append(row.public_jwk)
        if row.state == SigningKey.State.ACTIVE:
            signing_kid = row.kid
            if previous.signing_kid == row.kid and previous.signing_key is not None:
                signing_key = previous.signing_key
            else:
                pem = crypto.decrypt(bytes(row.private_key_encrypted))
                loaded = serialization.load_pem_private_key(pem, password=None)
                assert isinstance(loaded, rsa.RSAPrivateKey)  # keys are made RSA (services)
                signing_key = loaded
    body = json.dumps({"keys": jwks}, separators=(",", ":")).encode()
    return KeyRing(signing_kid, signing_key, verifying, body, refresh_kid, refresh_secrets)


def _reload(previous: KeyRing) -> KeyRing:
    global _ring
    with _lock:
        if _ring is not previous:  # another thread reloaded while we waited
            return _ring
        new = _load(previous)
        _ring = new
    for callback in _reload_listeners:
        callback(previous, new)
    return new


def key_ring() -> KeyRing:
    ring = _ring
    if time.time() - ring.loaded_at >= iam_settings.key_cache_seconds:
        ring = _reload(ring)
    return ring


def key_ring_clear() -> None:
    """Forget the loaded keys; the next use reloads (after a rotation in this process)."""
    global _ring
    with _lock:
        old, _ring = _ring, _EMPTY
    for callback in _reload_listeners:
        callback(old, _EMPTY)


on_settings_reset(key_ring_clear)


def verifying_key(kid: str | None) -> rsa.RSAPublicKey | None:
    """The RS256 public key for ``kid`` if it is published, reloading (rate limited) when
    unknown. Never an HS256 secret: the families do not mix."""
    if not isinstance(kid, str):
        return None
    ring = key_ring()
    found = ring.verifying_keys.get(kid)
    if found is None and time.time() - ring.loaded_at >= UNKNOWN_KID_RELOAD_INTERVAL:
        found = _reload(ring).verifying_keys.get(kid)
    return found


def signing_key() -> tuple[str, rsa.RSAPrivateKey]:
    """The active RS256 ``(kid, private key)``; ``SigningKeyUnavailable`` when there is none
    (tokens sign through ``iam.tokens.services.signing_key_current``, which makes the first key
    in dev mode)."""
    ring = key_ring()
    if ring.signing_key is None:
        ring = _reload(ring)
    if ring.signing_kid is None or ring.signing_key is None:
        raise SigningKeyUnavailable()
    return ring.signing_kid, ring.signing_key


def refresh_secret(kid: str | None) -> bytes | None:
    """The HS256 secret ``kid`` names if refresh tokens it signed are still accepted, reloading
    (rate limited) when unknown: another process may have rotated."""
    if not isinstance(kid, str):
        return None
    ring = key_ring()
    found = ring.refresh_secrets.get(kid)
    if found is None and time.time() - ring.loaded_at >= UNKNOWN_KID_RELOAD_INTERVAL:
        found = _reload(ring).refresh_secrets.get(kid)
    return found


def refresh_signing_secret() -> tuple[str, bytes]:
    """The active HS256 ``(kid, secret)`` refresh tokens are signed with;
    ``SigningKeyUnavailable`` when there is none (``refresh_signing_secret_current`` in
    ``iam.tokens.services`` makes the first one in dev mode)."""
    ring = key_ring()
    if ring.refresh_kid is None:
        ring = _reload(ring)
    if ring.refresh_kid is None:
        raise SigningKeyUnavailable()
    return ring.refresh_kid, ring.refresh_secrets[ring.refresh_kid]


def jwks_document() -> bytes:
    return key_ring().jwks_json
