"""Test kit: RSA keys as the IAM makes them, a fake clock, a fake issuer serving a JWKS whose
fetches are counted, and IAM-shaped tokens signed with PyJWT."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://iam.example.com"
AUDIENCE = "iam-api"
T0 = 1_800_000_000.0
TOKEN_URL = ISSUER + "/api/oauth/token/"


# -- keys ----------------------------------------------------------------------------------


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Key:
    """A signing key as the IAM has it: kid = RFC 7638 thumbprint."""

    private: rsa.RSAPrivateKey
    kid: str
    jwk: dict[str, str]

    @classmethod
    def generate(cls, bits: int = 2048) -> Key:
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        numbers = private.public_key().public_numbers()
        members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
        return cls(private, kid, {**members, "kid": kid, "use": "sig", "alg": "RS256"})


# -- clock and issuer ----------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeIssuer:
    """Serves ``{"keys": [...]}`` for the published keys; counts fetches; can fail."""

    published: list[Key] = field(default_factory=list)
    fetches: int = 0
    fail: bool = False
    urls: list[str] = field(default_factory=list)

    def fetch(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        self.urls.append(url)
        if self.fail:
            raise OSError("connection refused")
        return {"keys": [key.jwk for key in self.published]}


# -- tokens --------------------------------------------------------------------------------


def user_claims(now: float, **overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "exp": int(now) + 900,
        "iat": int(now),
        "jti": uuid.uuid4().hex,
        "token_type": "access",
        "sid": str(uuid.uuid4()),
        "email": "ada@example.com",
        "email_verified": True,
        "amr": ["pwd"],
        "auth_time": int(now) - 60,
        "is_staff": False,
        "tid": str(uuid.uuid4()),
        "tenant": "acme",
        "roles": ["admin"],
        "perms": ["billing.read", "members.read"],
    }
    claims.update(overrides)
    return claims


def service_claims(now: float, client_id: str = "svc_0123456789abcdef01234567", **overrides: Any):
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": client_id,
        "client_id": client_id,
        "scope": "orders.read orders.write",
        "exp": int(now) + 900,
        "iat": int(now),
        "jti": uuid.uuid4().hex,
        "token_type": "access",
    }
    claims.update(overrides)
    return claims


def refresh_claims(now: float, **overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "aud": ISSUER,
        "sub": str(uuid.uuid4()),
        "exp": int(now) + 7 * 86400,
        "iat": int(now),
        "jti": uuid.uuid4().hex,
        "token_type": "refresh",
        "sid": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return claims


def sign(claims: dict[str, Any], key: Key, *, typ: str | None = "at+jwt", **header: Any) -> str:
    headers: dict[str, Any] = {"kid": key.kid, **header}
    if typ is not None:
        headers["typ"] = typ
    return jwt.encode(claims, key.private, algorithm="RS256", headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """``header_b64.payload_b64`` for hand-made tokens."""
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())


class Tokens:
    """Token factory bound to the test's clock and key A."""

    def __init__(self, clock: FakeClock, key: Key) -> None:
        self.clock, self.key = clock, key

    def user(self, *, key: Key | None = None, typ: str | None = "at+jwt", **claims: Any) -> str:
        return sign(user_claims(self.clock.now, **claims), key or self.key, typ=typ)

    def service(self, *, key: Key | None = None, **claims: Any) -> str:
        return sign(service_claims(self.clock.now, **claims), key or self.key)

    def refresh(self, **claims: Any) -> str:
        return sign(refresh_claims(self.clock.now, **claims), self.key, typ="refresh+jwt")

    def raw(self, claims: dict[str, Any], **header: Any) -> str:
        return sign(claims, self.key, **header)


# -- token endpoint ------------------------------------------------------------------------


class FakeTokenEndpoint:
    """Records requests; answers with numbered tokens or a scripted error."""

    def __init__(self, expires_in: int = 300) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.expires_in = expires_in
        self.answer: tuple[int, dict] | None = None
        self.delay = 0.0
        self.lock = threading.Lock()

    def __call__(self, url: str, data: dict[str, str], headers: dict[str, str]):
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.requests.append((url, dict(data), dict(headers)))
            number = len(self.requests)
        if self.answer is not None:
            return self.answer
        return 200, {
            "access_token": f"token-{number}",
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": data.get("scope", ""),
        }
