"""SimpleJWT's TokenBackend with per-token key selection by ``kid``.

SimpleJWT 5.5 cannot put header fields into a token (jazzband/djangorestframework-simplejwt#531)
and verifies with one configured key, so this subclass adds ``kid`` and ``typ`` and picks the
verifying key from the key ring. This module is the only place in the IAM that touches PyJWT
(``tests/tokens/test_backend.py`` enforces it).
"""

from __future__ import annotations

from typing import Any

import jwt
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken

from iam.core.conf import iam_settings
from iam.tokens import keys
from iam.tokens.claims import MalformedClaims, token_claims_check
from iam.tokens.services import signing_key_current

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


class KeyedTokenBackend(TokenBackend):
    """RS256 only; ``typ`` pinned per token class; issuer, audience and ``exp`` always checked,
    then the type of every claim (``iam.tokens.claims``: a list ``aud`` is refused)."""

    def __init__(self, *, typ: str, audience: str | None) -> None:
        """``audience=None`` only for decoding service tokens of any audience (introspection);
        such a backend refuses to encode."""
        super().__init__(
            ALGORITHM,
            signing_key=None,
            audience=audience,
            issuer=iam_settings.issuer,
            leeway=iam_settings.leeway,
        )
        self.typ = typ

    def encode(self, payload: dict[str, Any]) -> str:
        if self.audience is None:
            raise TokenBackendError("Tokens are always issued for an audience.")
        kid, private_key = signing_key_current()
        claims = {**payload, "iss": self.issuer, "aud": self.audience}
        return jwt.encode(
            claims, private_key, algorithm=ALGORITHM, headers={"kid": kid, "typ": self.typ}
        )

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        if not verify:
            raise TokenBackendError("Unverified decoding is not allowed.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc
        if header.get("alg") != ALGORITHM or header.get("typ") != self.typ:
            raise TokenBackendError("Token is invalid")
        public_key = keys.verifying_key(header.get("kid"))
        if public_key is None:
            raise TokenBackendError("Token is signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                public_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.get_leeway(),
                options={"require": REQUIRED_CLAIMS, "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc
        try:
            token_claims_check(claims)
        except MalformedClaims as exc:
            raise TokenBackendError("Token is invalid") from exc
        return claims
