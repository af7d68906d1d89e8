"""Local verification of IAM access tokens.

``Verifier.verify`` does what ``jwt.decode`` would, in the order the JWT contract lists, but in
lean code: the RSA signature is checked with the cached ``cryptography`` key object directly on
the signing input, and the claims with a handful of comparisons. A repeated token is answered
from a bounded LRU cache keyed by the token string, never after its ``exp`` (+ leeway), and never
once its key has left the issuer's key set. ``Verifier.verify_with_pyjwt`` is the same check
written with ``jwt.decode``; it is the reference the tests compare against.
"""

from __future__ import annotations

import binascii
import json
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from iam_client import _http
from iam_client.errors import (
    JWKSUnavailable,
    TokenExpired,
    TokenInvalid,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
)
from iam_client.jwks import KeySet
from iam_client.principal import Principal, make_principal

__all__ = ["ACCESS_TYP", "MAX_TOKEN_LENGTH", "Verifier"]

ACCESS_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 8192  # an IAM access token is well under 2 KiB
MAX_CACHED_HEADERS = 64  # distinct genuine headers: one or two per published key
MAX_TIME = 253_402_300_799  # 9999-12-31T23:59:59Z
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti")

_PADDING = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
# base64url -> base64 for binascii; "+", "/" and "=" (not base64url, or padding) become "!",
# which strict decoding refuses: one pass both translates and enforces the alphabet.
_TO_STANDARD_B64 = bytes.maketrans(b"-_+/=", b"+/!!!")
_STR_TYPE = {str}
_NO_NAMES: frozenset[str] = frozenset()
_PAD = (b"", b"", b"==", b"=")  # by len % 4; 1 is never valid (strict decoding refuses it)


def _b64url_decode(segment: bytes) -> bytes:
    """Strict base64url: no padding, whitespace or foreign characters (ValueError)."""
    return binascii.a2b_base64(
        segment.translate(_TO_STANDARD_B64) + _PAD[len(segment) % 4], strict_mode=True
    )


def _verify_signature(key: RSAPublicKey, signature: bytes, signing_input: bytes) -> None:
    """RS256: RSASSA-PKCS1-v1_5 with SHA-256. Raises InvalidSignature."""
    key.verify(signature, signing_input, _PADDING, _SHA256)


def _is_time(value: object) -> bool:
    """A NumericDate: an int, or a finite float (``NaN``/``Infinity`` parse as floats), from the
    epoch to the end of year 9999 (what a datetime can hold; the IAM refuses the rest too)."""
    kind = type(value)
    return (
        kind is int or (kind is float and math.isfinite(value))  # type: ignore[arg-type]
    ) and 0 <= value <= MAX_TIME  # type: ignore[operator]


def _str_list(value: object) -> bool:
    return type(value) is list and set(map(type, value)) <= _STR_TYPE


def _is_uuid(value: object) -> bool:
    """A UUID in the canonical form the IAM writes (lower-case, hyphenated)."""
    if type(value) is not str or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


# Optional claims of a user's token and their types (present means well-formed).
_OPTIONAL_TYPES: tuple[tuple[str, Callable[[object], bool]], ...] = (
    ("auth_time", _is_time),
    ("amr", _str_list),
    ("email", lambda value: type(value) is str),
    ("email_verified", lambda value: type(value) is bool),
    ("is_staff", lambda value: type(value) is bool),
    ("client_id", lambda value: type(value) is str and value != ""),
    ("scope", lambda value: type(value) is str),
)


def _seconds(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0")
    return value


class Verifier:
    """Verifies IAM access tokens for one issuer and one or more accepted audiences.

    Create one per process and share it (it is thread-safe): it owns the JWKS cache and the
    verified-token cache. No network I/O happens until the first token (or ``prefetch()``).

    * ``issuer``: the exact ``iss`` value, e.g. ``"https://iam.example.com"``; the JWKS is
      ``{issuer}/.well-known/jwks.json`` unless ``jwks_url`` says otherwise.
    * ``audience``: the ``aud`` this service accepts (a list accepts any of them).
    * ``leeway``: seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
    * ``jwks_max_age``: how long a fetched key set is trusted before it is refetched (capped by
      the response's ``Cache-Control: max-age`` when the default fetcher is used).
    * ``min_refetch_interval``: at most one JWKS fetch per this many seconds, whatever happens.
    * ``cache_size``: verified tokens remembered (LRU); 0 disables the cache.
    * ``http_fetch``: ``fetch(url) -> dict`` replacing the default ``urllib`` GET.
    * ``clock``: seconds since the epoch (tests pass a fake one).
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Iterable[str],
        *,
        jwks_url: str | None = None,
        leeway: float = 10,
        jwks_max_age: float = 300,
        min_refetch_interval: float = 5,
        cache_size: int = 10_000,
        http_fetch: Callable[[str], Mapping[str, Any]] | None = None,
        http_timeout: float = _http.DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer must be a non-empty string")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("audience must be a non-empty string or a list of them")
        if int(cache_size) < 0:
            raise ValueError("cache_size must be >= 0")
        self.issuer = issuer
        self.audiences: frozenset[str] = frozenset(audiences)
        self.leeway = _seconds(leeway, "leeway")
        self.cache_size = int(cache_size)
        self.jwks_url = jwks_url or issuer.rstrip("/") + "/.well-known/jwks.json"
        self.keys = KeySet(
            self.jwks_url,
            max_age=_seconds(jwks_max_age, "jwks_max_age"),
            min_refetch_interval=_seconds(min_refetch_interval, "min_refetch_interval"),
            http_fetch=http_fetch,
            timeout=http_timeout,
            clock=clock,
        )
        self._clock = clock
        self._cache: OrderedDict[str, tuple[Principal, float, str]] = OrderedDict()
        self._cache_lock = threading.Lock()
        # header segment -> (kid, typ), for headers of tokens whose signature verified
        self._headers: dict[bytes, tuple[str, object]] = {}

    @classmethod
    def from_issuer(
        cls,
        issuer: str,
        audience: str | Iterable[str],
        *,
        http_fetch: Callable[[str], Mapping[str, Any]] | None = None,
        http_timeout: float = _http.DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> Verifier:
        """A verifier whose JWKS URL comes from ``{issuer}/.well-known/openid-configuration``.

        Fetches the discovery document now (raises ``JWKSUnavailable`` when it cannot); the
        document's ``issuer`` must equal ``issuer``. Without discovery, ``Verifier(issuer, ...)``
        uses ``{issuer}/.well-known/jwks.json`` and touches the network only when it must.
        """
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            if http_fetch is not None:
                document = http_fetch(url)
            else:
                document = _http.fetch_json(url, timeout=http_timeout)
        except Exception as exc:
            raise JWKSUnavailable(f"Discovery at {url} failed: {exc}") from exc
        if not isinstance(document, Mapping) or document.get("issuer") != issuer:
            raise JWKSUnavailable(f"Discovery at {url} names another issuer.")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise JWKSUnavailable(f"Discovery at {url} has no jwks_uri.")
        if http_fetch is None:
            _http.check_http_url(jwks_uri)
        return cls(
            issuer,
            audience,
            jwks_url=jwks_uri,
            http_fetch=http_fetch,
            http_timeout=http_timeout,
            **kwargs,
        )

    # -- public API ------------------------------------------------------------------------

    def verify(self, token: str, *, allow_fetch: bool = True) -> Principal:
        """The principal of a valid access token, else a ``TokenError``.

        With ``allow_fetch=False`` nothing blocks on the network: when a JWKS fetch is needed,
        ``FetchRequired`` is raised instead (async code then calls ``verify`` in a thread).
        """
        if type(token) is not str:
            raise TokenInvalid("The token is malformed.")
        if self.cache_size:
            now = self._clock()
            with self._cache_lock:
                entry = self._cache.get(token)
                if entry is not None:
                    self._cache.move_to_end(token)
            if entry is not None:
                principal, valid_until, kid = entry
                if now < valid_until and self.keys.is_current(kid, now, allow_fetch=allow_fetch):
                    return principal
                with self._cache_lock:
                    self._cache.pop(token, None)
        principal, valid_until, kid = self._verify(token, allow_fetch)
        if self.cache_size:
            with self._cache_lock:
                self._cache[token] = (principal, valid_until, kid)
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return principal

    def verify_with_pyjwt(self, token: str) -> Principal:
        """The same verification written with ``jwt.decode`` (no cache; PyJWT reads the system
        clock, not ``clock``). The reference implementation; about 5x slower than ``verify``."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid("The token is malformed.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenInvalid("The token is malformed.") from exc
        if header.get("alg") != "RS256":
            raise TokenInvalid("The token is not signed with RS256.")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenInvalid("The token has no key id.")
        if header.get("typ") != ACCESS_TYP:
            raise WrongTokenType()
        key = self.keys.get(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=sorted(self.audiences),
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.InvalidAudienceError as exc:
            raise WrongAudience() from exc
        except jwt.InvalidIssuerError as exc:
            raise WrongIssuer() from exc
        except jwt.PyJWTError as exc:
            raise TokenInvalid(str(exc)) from exc
        if type(claims["aud"]) is not str:
            raise WrongAudience()  # a list: the contract says a string
        if not all(
            _is_time(claims[name]) for name in ("exp", "iat") + ("nbf",) * ("nbf" in claims)
        ):
            raise TokenInvalid("The token's exp, iat and nbf must be numbers.")
        if claims.get("token_type") != "access":
            raise WrongTokenType()
        return self._principal(claims, claims["sub"], claims["jti"])

    def prefetch(self) -> None:
        """Fetch the JWKS now (at startup or in a readiness probe); ``JWKSUnavailable`` if not."""
        self.keys.refresh()

    def clear_cache(self) -> None:
        """Forget every verified token."""
        with self._cache_lock:
            self._cache.clear()

    @property
    def cached_tokens(self) -> int:
        return len(self._cache)

    # -- the check -------------------------------------------------------------------------

    def _verify(self, token: str, allow_fetch: bool) -> tuple[Principal, float, str]:
        """Verify from scratch: ``(principal, valid until, kid)``."""
        if type(token) is not str or len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid("The token is malformed.")
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise TokenInvalid("The token is malformed.") from None
        parts = raw.split(b".")
        if len(parts) != 3:
            raise TokenInvalid("The token is malformed.")
        header_b64, payload_b64, signature_b64 = parts
        known = self._headers.get(header_b64)
        if known is None:
            kid, typ = self._parse_header(header_b64)
        else:
            kid, typ = known

        key = self.keys.get(kid, allow_fetch=allow_fetch)
        try:
            _verify_signature(
                key,
                _b64url_decode(signature_b64),
                raw[: len(header_b64) + 1 + len(payload_b64)],
            )
        except (InvalidSignature, ValueError):
            raise TokenInvalid("The token's signature is invalid.") from None
        if known is None:  # genuine (the issuer signed it): parse it only once
            if len(self._headers) >= MAX_CACHED_HEADERS:
                self._headers.clear()
            self._headers[header_b64] = (kid, typ)

        # The token is genuine from here on: every refusal below is a policy decision.
        if typ != ACCESS_TYP:
            raise WrongTokenType()
        try:
            claims = json.loads(_b64url_decode(payload_b64).decode())
        except ValueError:
            raise TokenInvalid("The token payload is malformed.") from None
        if type(claims) is not dict:
            raise TokenInvalid("The token payload is malformed.")
        if claims.get("token_type") != "access":
            raise WrongTokenType()
        try:  # REQUIRED_CLAIMS
            exp, iat, iss, aud = claims["exp"], claims["iat"], claims["iss"], claims["aud"]
            sub, jti = claims["sub"], claims["jti"]
        except KeyError as missing:
            raise TokenInvalid(f"The token has no {missing} claim.") from None
        if not _is_time(exp) or not _is_time(iat):
            raise TokenInvalid("The token's exp and iat must be numbers.")
        if iss != self.issuer:
            raise WrongIssuer()
        if type(aud) is not str or aud not in self.audiences:
            raise WrongAudience()  # a list too: the contract says a string, the IAM issues one
        leeway = self.leeway
        now = self._clock()
        if now >= exp + leeway:
            raise TokenExpired()
        if "nbf" in claims and (not _is_time(nbf := claims["nbf"]) or nbf > now + leeway):
            raise TokenInvalid("The token is not valid yet.")
        if iat > now + leeway:
            raise TokenInvalid("The token was issued in the future.")
        return self._principal(claims, sub, jti), exp + leeway, kid

    @staticmethod
    def _parse_header(segment: bytes) -> tuple[str, object]:
        """``(kid, typ)`` of an RS256 JOSE header, else TokenInvalid."""
        try:
            header = json.loads(_b64url_decode(segment).decode())
        except ValueError:  # binascii.Error, JSONDecodeError and UnicodeDecodeError included
            raise TokenInvalid("The token header is malformed.") from None
        if type(header) is not dict:
            raise TokenInvalid("The token header is malformed.")
        if header.get("alg") != "RS256":
            raise TokenInvalid("The token is not signed with RS256.")
        kid = header.get("kid")
        if type(kid) is not str:
            raise TokenInvalid("The token has no key id.")
        if "crit" in header:
            raise TokenInvalid("The token has critical header parameters.")
        return kid, header.get("typ")

    @staticmethod
    def _principal(claims: dict[str, Any], sub: object, jti: object) -> Principal:
        """The principal a verified payload describes (user or service), or TokenInvalid."""
        if type(sub) is not str or not sub or type(jti) is not str or not jti:
            raise TokenInvalid("The token's sub and jti must be non-empty strings.")
        sid = claims.get("sid")
        client_id = claims.get("client_id")
        tid, tenant = claims.get("tid"), claims.get("tenant")
        if (tid is not None and not _is_uuid(tid)) or (
            tenant is not None and (type(tenant) is not str or not tenant)
        ):
            raise TokenInvalid("The token's tenant claims are malformed.")
        view = MappingProxyType(claims)
        if sid is None and client_id is not None:
            scope = claims.get("scope", "")
            if type(client_id) is not str or client_id != sub or type(scope) is not str:
                raise TokenInvalid("The service token's client_id or scope is malformed.")
            if (tid is None) != (tenant is None):
                raise TokenInvalid("The token's tenant claims are incomplete.")
            return make_principal(
                kind="service",
                subject=sub,
                user_id=None,
                client_id=client_id,
                session_id=None,
                email=None,
                tenant_id=tid,
                tenant=tenant,
                roles=(),
                perms=_NO_NAMES,
                scopes=frozenset(scope.split()),
                is_staff=False,
                claims=view,
            )
        if type(sid) is not str:
            raise TokenInvalid("The token is neither a user's (sid) nor a service's (client_id).")
        if not _is_uuid(sid) or not _is_uuid(sub):
            raise TokenInvalid("A user's token has UUIDs as its sid and sub.")
        for name, valid in _OPTIONAL_TYPES:
            if name in claims and not valid(claims[name]):
                raise TokenInvalid(f"The token's {name} claim is malformed.")
        present = ("tid" in claims) + ("tenant" in claims) + ("roles" in claims)
        if present + ("perms" in claims) not in (0, 4):
            raise TokenInvalid("The token's tenant claims are incomplete.")
        roles, perms = claims.get("roles", []), claims.get("perms", [])
        if not _str_list(roles) or not _str_list(perms):
            raise TokenInvalid("The token's roles and perms must be lists of strings.")
        return make_principal(
            kind="user",
            subject=sub,
            user_id=sub,
            client_id=client_id,
            session_id=sid,
            email=claims.get("email"),
            tenant_id=tid,
            tenant=tenant,
            roles=tuple(roles),
            perms=frozenset(perms),
            scopes=_NO_NAMES,
            is_staff=claims.get("is_staff", False),
            claims=view,
        )
