"""social-core's failures as the IAM's domain errors (one stable code each)."""

from __future__ import annotations

import logging

from social_core.exceptions import (
    AuthCanceled,
    AuthConfigurationError,
    SocialAuthBaseException,
)

from iam.core.exceptions import (
    IAMError,
    IdTokenInvalid,
    ProviderError,
    ProviderUnavailable,
    SocialCancelled,
    SocialCodeInvalid,
    SocialStateInvalid,
)

log = logging.getLogger("iam.social")

_STATE = {"session_context_missing", "state_mismatch", "user_mismatch"}
_TOKEN = {
    "invalid_signature",
    "nonce_mismatch",
    "response_expired",
    "response_not_yet_valid",
}
_UNAVAILABLE = {"connection_failed", "timeout", "unavailable", "rate_limited", "tls_error"}


def social_error(exc: SocialAuthBaseException) -> IAMError:
    """The domain error for a social-core exception. Its detail (which may quote the provider)
    goes to the log, never to the client."""
    code = exc.code
    stage = getattr(exc, "stage", "unknown")
    log.info(
        "social sign-in failed: %s (%s, stage %s)",
        code,
        type(exc).__name__,
        stage,
        extra={"social_code": code, "social_stage": stage},
    )
    if isinstance(exc, AuthCanceled) or code == "authorization_declined":
        return SocialCancelled()
    if code in _STATE or (
        code == "missing_parameter" and getattr(exc, "parameter", None) == "state"
    ):
        return SocialStateInvalid()
    if code == "authorization_code_rejected":
        return SocialCodeInvalid()
    if code in _UNAVAILABLE:
        return ProviderUnavailable()
    if code in _TOKEN or stage == "token_validation":
        if code in ("http_error", "malformed_response") and stage == "token_validation":
            return ProviderError()  # the JWKS or discovery answer, not the token
        return IdTokenInvalid()
    if isinstance(exc, AuthConfigurationError):
        log.error("social sign-in: provider configuration refused (%s)", code)
    return ProviderError()


def social_reason(exc: SocialAuthBaseException) -> str:
    """The social-core detail an audit event keeps for operators: code and claim."""
    claim = getattr(exc, "claim", None)
    return f"{exc.code}:{claim}" if claim else str(exc.code)
