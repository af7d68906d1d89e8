"""The exceptions the verifier and the token source raise.

Every verification failure is a ``TokenError`` with a stable ``code`` (safe to return to the
client and to log) and a human ``detail``. Catch ``TokenError`` to refuse a request; look at
``code`` (or the subclass) only to pick a status: ``jwks_unavailable`` is the verifier's problem
(answer 503), everything else is the token's (answer 401).
"""

from __future__ import annotations

__all__ = [
    "JWKSUnavailable",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenRequestError",
    "UnknownKey",
    "WrongAudience",
    "WrongIssuer",
    "WrongTokenType",
]


class TokenError(Exception):
    """Base of every verification failure."""

    code: str = "token_invalid"
    default_detail: str = "The token is invalid."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class TokenInvalid(TokenError):
    """Malformed, wrong algorithm, bad signature, missing claim, not yet valid."""

    code = "token_invalid"


class TokenExpired(TokenError):
    code = "token_expired"
    default_detail = "The token has expired."


class WrongAudience(TokenError):
    code = "wrong_audience"
    default_detail = "The token was not issued for this service."


class WrongIssuer(TokenError):
    code = "wrong_issuer"
    default_detail = "The token was not issued by the expected issuer."


class UnknownKey(TokenError):
    code = "unknown_key"
    default_detail = "The token was signed by an unknown key."


class WrongTokenType(TokenError):
    """Not an access token: a refresh token (``typ`` ``refresh+jwt``) or another ``token_type``."""

    code = "wrong_token_type"
    default_detail = "The token is not an access token."


class JWKSUnavailable(TokenError):
    """The issuer's key set could not be fetched and no cached key can decide. Not the client's
    fault: answer 503, not 401."""

    code = "jwks_unavailable"
    default_detail = "The issuer's signing keys are unavailable."


class TokenRequestError(Exception):
    """The token endpoint refused a client-credentials request (RFC 6749 §5.2) or could not be
    reached (``error == "temporarily_unavailable"``, ``status`` 0 when there was no response)."""

    def __init__(self, error: str, description: str = "", status: int = 0) -> None:
        self.error, self.description, self.status = error, description, status
        super().__init__(f"{error}: {description}" if description else error)
