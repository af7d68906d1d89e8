"""SimpleJWT's TokenBackend with per-token key selection by ``kid``, one key family per class.

SimpleJWT 5.5 cannot put header fields into a token (jazzband/djangorestframework-simplejwt#531)
and verifies with one configured key, so this subclass adds ``kid`` and ``typ`` and picks the key
from the key ring. Each token class pins its algorithm, its ``typ`` and its key family: access
tokens are RS256 with a published key pair, refresh tokens HS256 with a secret only the IAM
holds. A token of one class can never verify as the other: the header's ``alg`` must be the
class's, and the key is looked up by ``kid`` in the class's own family only (an HS256 token is
never checked against a public key, an RS256 token never against a secret). This module is the
only place in the IAM that touches PyJWT (``tests/tokens/test_backend.py`` enforces it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.utils import base64url_decode, base64url_encode
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken

from iam.core.conf import iam_settings
from iam.tokens import keys
from iam.tokens.claims import MalformedClaims, token_claims_check
from iam.tokens.services import refresh_signing_secret_current, signing_key_current

ALGORITHM = "RS256"  # access and service tokens (published keys)
REFRESH_ALGORITHM = "HS256"  # refresh tokens (secrets the IAM never publishes)
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


MAX_HEADER_SEGMENT = 512  # the IAM's headers are about 100 characters


def header_for_key_choice(token: Any) -> dict[str, Any]:
    """The token's JOSE header, read only to choose the key (``alg``, ``typ``, ``kid``).

    ``jwt.get_unverified_header`` would decode and check all three segments of the token, which
    ``jwt.decode`` then does again; this reads the first segment only. Nothing read here is
    trusted: PyJWT verifies the signature over the header's exact bytes with the key chosen, and
    its own strict reading of the header must equal this one."""
    if not isinstance(token, str):
        raise TokenBackendError("Token is invalid")
    segment, dot, _ = token.partition(".")
    if not dot or not 0 < len(segment) <= MAX_HEADER_SEGMENT:
        raise TokenBackendError("Token is invalid")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise TokenBackendError("Token is invalid") from exc
    if not isinstance(header, dict):
        raise TokenBackendError("Token is invalid")
    return header


# The base64url alphabet without padding: what the IAM issues, and the only input the fast path
# below takes (with a length PyJWT accepts, in the one encoding of its bytes).
_UNPADDED_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")


class _JWS(PyJWS):
    """PyJWT's JWS, with its strict segment decoding done by a regular expression where PyJWT
    tests each character in Python (about 270 k instructions of a refresh of 10.4 M: a refresh
    token has some 480 characters). A segment of the base64url alphabet alone, unpadded, of a
    length PyJWT accepts and in the one encoding of its bytes (PyJWT refuses stray low bits) is
    decoded as PyJWT decodes it; every other segment (padding, foreign characters, an impossible
    length, a second encoding) goes to PyJWT's own check. ``tests/tokens/test_codec.py`` holds the
    two to the same answer, segment by segment."""

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        if len(segment) % 4 != 1 and _UNPADDED_BASE64URL.fullmatch(segment):
            decoded = base64url_decode(segment)
            if base64url_encode(decoded) == segment:
                return decoded
        return PyJWS._decode_base64url_segment(segment, name)


class _PreparedHMAC(HMACAlgorithm):
    """HS256 whose key preparation runs once per secret. PyJWT prepares the key on every
    encode and decode, and for an HMAC secret that means proving it is no public key,
    certificate or JWK (two DER parses that fail, a JSON parse that fails: about 50 k
    instructions each time). The answer depends on the secret's bytes alone (a secret that
    passes is used as it is), so the digests of the secrets that passed are kept, not the
    secrets; a secret PyJWT refuses is refused every time."""

    MAX_SECRETS = 32  # the key ring holds a handful; a full set starts over

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._passed: set[bytes] = set()

    def prepare_key(self, key: str | bytes) -> bytes:
        if not isinstance(key, bytes):
            return super().prepare_key(key)
        digest = hashlib.sha256(key).digest()
        if digest in self._passed:
            return key
        prepared = super().prepare_key(key)
        if len(self._passed) >= self.MAX_SECRETS:
            self._passed.clear()
        self._passed.add(digest)
        return prepared


class _JWT(jwt.PyJWT):
    """PyJWT's JWT codec (claims, options, errors: all PyJWT's) over ``_JWS``, with HS256 as
    ``_PreparedHMAC`` and only the two algorithms the IAM uses."""

    def __init__(self) -> None:
        super().__init__()
        self._jws = _JWS(algorithms=[ALGORITHM, REFRESH_ALGORITHM], options=self._jws.options)
        self._jws.unregister_algorithm(REFRESH_ALGORITHM)
        self._jws.register_algorithm(REFRESH_ALGORITHM, _PreparedHMAC())


_codec = _JWT()


class KeyedTokenBackend(TokenBackend):
    """``algorithm`` and ``typ`` pinned per token class; issuer, audience and ``exp`` always
    checked, then the type of every claim (``iam.tokens.claims``: a list ``aud`` is refused)."""

    def __init__(self, *, typ: str, audience: str | None, algorithm: str = ALGORITHM) -> None:
        """``audience=None`` only for decoding service tokens of any audience (introspection);
        such a backend refuses to encode."""
        if algorithm not in (ALGORITHM, REFRESH_ALGORITHM):
            raise TokenBackendError(f"Unsupported algorithm {algorithm!r}.")
        super().__init__(
            algorithm,
            signing_key=None,
            audience=audience,
            issuer=iam_settings.issuer,
            leeway=iam_settings.leeway,
        )
        self.typ = typ

    def _signing_key(self) -> tuple[str, Any]:
        if self.algorithm == REFRESH_ALGORITHM:
            return refresh_signing_secret_current()
        return signing_key_current()

    def _verifying_key(self, kid: object) -> Any:
        if self.algorithm == REFRESH_ALGORITHM:
            return keys.refresh_secret(kid if isinstance(kid, str) else None)
        return keys.verifying_key(kid if isinstance(kid, str) else None)

    def encode(self, payload: dict[str, Any]) -> str:
        if self.audience is None:
            raise TokenBackendError("Tokens are always issued for an audience.")
        kid, key = self._signing_key()
        claims = {**payload, "iss": self.issuer, "aud": self.audience}
        return _codec.encode(
            claims, key, algorithm=self.algorithm, headers={"kid": kid, "typ": self.typ}
        )

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        if not verify:
            raise TokenBackendError("Unverified decoding is not allowed.")
        header = header_for_key_choice(token)
        if header.get("alg") != self.algorithm or header.get("typ") != self.typ:
            raise TokenBackendError("Token is invalid")
        key = self._verifying_key(header.get("kid"))
        if key is None:
            raise TokenBackendError("Token is signed by an unknown key")
        try:
            decoded = _codec.decode_complete(
                token,
                key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.get_leeway(),
                options={"require": REQUIRED_CLAIMS, "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc
        if decoded["header"] != header:  # PyJWT's strict reading of the header decides
            raise TokenBackendError("Token is invalid")
        claims = decoded["payload"]
        try:
            token_claims_check(claims)
        except MalformedClaims as exc:
            raise TokenBackendError("Token is invalid") from exc
        return claims
