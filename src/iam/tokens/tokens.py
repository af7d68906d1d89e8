"""The IAM's token classes: SimpleJWT tokens with settings read at use, not frozen at import."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any, ClassVar, Self

from rest_framework_simplejwt.tokens import Token

from iam.core.conf import iam_settings, on_settings_reset
from iam.tokens.backend import ALGORITHM, REFRESH_ALGORITHM, KeyedTokenBackend

ACCESS_TYP = "at+jwt"  # RFC 9068
REFRESH_TYP = "refresh+jwt"


@cache
def token_backend(typ: str, audience: str, algorithm: str = ALGORITHM) -> KeyedTokenBackend:
    return KeyedTokenBackend(typ=typ, audience=audience, algorithm=algorithm)


on_settings_reset(token_backend.cache_clear)


class IAMToken(Token):
    """Base of the IAM's tokens; subclasses name their ``typ`` header, ``audience`` and
    ``algorithm`` (which also names the key family that signs and verifies them)."""

    typ: ClassVar[str]
    algorithm: ClassVar[str] = ALGORITHM
    audience: str

    @property
    def token_backend(self) -> KeyedTokenBackend:
        return token_backend(self.typ, self.audience, self.algorithm)

    @classmethod
    def from_validated(cls, raw: str, payload: dict[str, Any]) -> Self:
        """Wrap claims that were already validated (cached) without decoding again."""
        token = cls.__new__(cls)
        # SimpleJWT's annotations say Token and datetime; it stores the raw string and None
        token.token = raw  # type: ignore[assignment]
        token.payload = payload
        token.current_time = None  # type: ignore[assignment]
        return token


class AccessToken(IAMToken):
    """What a client presents to APIs. ``aud`` is the configured API audience."""

    token_type = "access"  # noqa: S105 (a claim value)
    typ = ACCESS_TYP

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return iam_settings.access_lifetime

    @property
    def audience(self) -> str:  # type: ignore[override]  # per use, never frozen
        return iam_settings.audience


class RefreshToken(IAMToken):
    """Only the IAM accepts it: HS256 with a secret only the IAM holds (no RSA signature to make,
    nothing for downstream services to verify), its ``aud`` is the issuer itself, its ``typ``
    differs."""

    token_type = "refresh"  # noqa: S105 (a claim value)
    typ = REFRESH_TYP
    algorithm = REFRESH_ALGORITHM

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return iam_settings.refresh_lifetime

    @property
    def audience(self) -> str:  # type: ignore[override]  # per use, never frozen
        return iam_settings.issuer


class ServiceAccessToken(AccessToken):
    """A client-credentials access token: its ``aud`` is the audience the client asked for.

    Built with ``audience=...`` to issue; decoded with ``audience=None`` it is checked for
    signature, ``typ``, ``iss``, ``exp`` and ``token_type`` but not ``aud`` (introspection reports
    the audience instead)."""

    def __init__(
        self, token: str | None = None, verify: bool = True, *, audience: str | None = None
    ) -> None:
        self._audience = audience
        super().__init__(token, verify)  # type: ignore[arg-type]  # SimpleJWT takes the string

    @property
    def audience(self) -> str | None:  # type: ignore[override]
        return self._audience

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return iam_settings.service_token_lifetime
