"""The domain error tree. Services raise these; ``iam.core.errors`` turns them into HTTP."""

from __future__ import annotations


class IAMError(Exception):
    """A failure a client can act on: an HTTP status, a stable machine ``code`` and a message."""

    status_code: int = 400
    code: str = "invalid"
    default_detail: str = "The request could not be completed."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[dict[str, str]]] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        # Per-field messages, rendered like validation errors: {field: [{"message", "code"}]}.
        self.fields = fields
        super().__init__(self.detail)

    @classmethod
    def on_field(cls, field: str, detail: str | None = None) -> IAMError:
        """The error, also reported against one input field."""
        error = cls(detail)
        error.fields = {field: [{"message": error.detail, "code": error.code}]}
        return error


class AuthenticationFailed(IAMError):
    status_code = 401
    code = "authentication_failed"
    default_detail = "Authentication failed."


class InvalidCredentials(AuthenticationFailed):
    code = "invalid_credentials"
    default_detail = "The credentials are not valid."


class TokenInvalid(AuthenticationFailed):
    code = "token_not_valid"
    default_detail = "The token is invalid or expired."


class TokenReused(AuthenticationFailed):
    code = "token_reused"
    default_detail = "This refresh token was already used; the session has been revoked."


class SessionRevoked(AuthenticationFailed):
    code = "session_revoked"
    default_detail = "The session has been revoked."


class SessionExpired(AuthenticationFailed):
    code = "session_expired"
    default_detail = "The session has expired; sign in again."


class AccountTokenInvalid(IAMError):
    """A link token (e-mail verification, password reset) that is not one of ours."""

    code = "token_invalid"
    default_detail = "This link is not valid."


class AccountTokenExpired(AccountTokenInvalid):
    code = "token_expired"
    default_detail = "This link has expired; ask for a new one."


class AccountTokenUsed(AccountTokenInvalid):
    """The token was valid, but the account changed since: it was used, or a newer one replaced
    it, or the password or e-mail address changed."""

    code = "token_used"
    default_detail = "This link was already used or is no longer valid; ask for a new one."


class InvalidPassword(IAMError):
    code = "invalid_password"
    default_detail = "The current password is not correct."


class PasswordRejected(IAMError):
    """The new password breaks the password policy; ``fields`` says how."""

    code = "password_rejected"
    default_detail = "This password is not allowed."


class EmailTaken(IAMError):
    code = "email_taken"
    default_detail = "This e-mail address is used by another account."


class UsernameTaken(IAMError):
    code = "username_taken"
    default_detail = "This username is taken."


class PasswordRequired(IAMError):
    code = "password_required"
    default_detail = "Give your current password to change this."


class MfaCodeRequired(IAMError):
    """An irreversible action of an account with MFA on, asked for without a second factor."""

    code = "mfa_code_required"
    default_detail = (
        "Two-factor authentication is on for this account: give a code from the authenticator "
        "or a backup code."
    )


class InvalidCode(IAMError):
    """A wrong, replayed or already-used second-factor code (TOTP or backup code)."""

    code = "invalid_code"
    default_detail = "The code is not valid."


class MfaTokenInvalid(AuthenticationFailed):
    code = "mfa_token_invalid"
    default_detail = "This sign-in attempt is not valid any more; sign in again."


class MfaAlreadyEnabled(IAMError):
    status_code = 409
    code = "mfa_already_enabled"
    default_detail = "Two-factor authentication is already on; turn it off first."


class MfaNotEnabled(IAMError):
    status_code = 409
    code = "mfa_not_enabled"
    default_detail = "Two-factor authentication is not on for this account."


class MfaSetupRequired(IAMError):
    status_code = 409
    code = "mfa_setup_required"
    default_detail = "Start the authenticator setup first."


class Throttled(IAMError):
    """Too many attempts; ``retry_after`` seconds until the next one is allowed."""

    status_code = 429
    code = "throttled"
    default_detail = "Too many attempts; try again later."

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))


class PermissionDenied(IAMError):
    status_code = 403
    code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class EmailNotVerified(PermissionDenied):
    code = "email_not_verified"
    default_detail = "The e-mail address has not been verified yet."


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"
    default_detail = "CSRF verification failed."


class NotTenantMember(PermissionDenied):
    code = "not_a_member"
    default_detail = "You are not a member of this tenant."


class TenantMismatch(PermissionDenied):
    code = "tenant_mismatch"
    default_detail = "The X-Tenant header names another tenant than the access token."


class MissingPermission(PermissionDenied):
    code = "missing_permission"
    default_detail = "Your role in this tenant does not allow this."


class RoleAboveOwn(PermissionDenied):
    code = "role_above_own"
    default_detail = "You cannot give a role above your own or change a member ranked above you."


class LastOwner(IAMError):
    status_code = 409
    code = "last_owner"
    default_detail = "A tenant keeps at least one owner: appoint another owner first."


class UnknownRole(IAMError):
    code = "unknown_role"
    default_detail = "There is no such role."


class AlreadyMember(IAMError):
    status_code = 409
    code = "already_member"
    default_detail = "This user is already a member of the tenant."


class InvitationEmailMismatch(PermissionDenied):
    code = "invitation_email_mismatch"
    default_detail = "This invitation was sent to another e-mail address; sign in with that one."


class NotFound(IAMError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found."


class ServiceUnavailable(IAMError):
    status_code = 503
    code = "service_unavailable"
    default_detail = "The service is temporarily unavailable."


class RevocationNotPropagated(ServiceUnavailable):
    """A change that revokes something was made, but Redis could not be told: processes that
    still read it may accept what was revoked for up to a minute (``iam.sessions.auth_state``)."""

    code = "revocation_not_propagated"
    default_detail = (
        "The change was made, but not every process could be told at once: for up to a minute, "
        "some may still accept what it revoked. Repeating the request is safe."
    )


class SigningKeyUnavailable(ServiceUnavailable):
    code = "signing_key_unavailable"
    default_detail = "No active signing key; an operator must run `manage.py rotate_signing_keys`."


# --- social sign-in ---------------------------------------------------------------------------


class ProviderNotFound(NotFound):
    code = "provider_not_found"
    default_detail = "There is no such sign-in provider."


class IdTokenInvalid(AuthenticationFailed):
    code = "id_token_invalid"
    default_detail = "The identity provider's ID token is not valid."


class SocialStateInvalid(IAMError):
    code = "social_state_invalid"
    default_detail = "This sign-in does not match one started in this browser; start again."


class SocialCodeInvalid(IAMError):
    code = "social_code_invalid"
    default_detail = "The identity provider refused the sign-in code; start again."


class SocialCancelled(IAMError):
    code = "social_cancelled"
    default_detail = "The sign-in was cancelled at the identity provider."


class ProviderError(IAMError):
    status_code = 502
    code = "provider_error"
    default_detail = "The identity provider answered something unusable."


class ProviderUnavailable(ServiceUnavailable):
    code = "provider_unavailable"
    default_detail = "The identity provider cannot be reached; try again later."


class SocialEmailMissing(PermissionDenied):
    code = "social_email_missing"
    default_detail = "The identity provider gave no e-mail address."


class SocialEmailNotVerified(PermissionDenied):
    code = "social_email_not_verified"
    default_detail = "The identity provider does not vouch for this e-mail address."


class SocialDomainNotAllowed(PermissionDenied):
    code = "social_domain_not_allowed"
    default_detail = "Accounts of this domain cannot sign in here."


class SocialAccountDisabled(PermissionDenied):
    code = "social_account_disabled"
    default_detail = "This account is disabled."


class SocialIdentityInUse(IAMError):
    status_code = 409
    code = "social_identity_in_use"
    default_detail = "This identity is linked to another account."


class SocialLinkInvalid(IAMError):
    code = "social_link_invalid"
    default_detail = "There is no pending link (it expired, was used or was cancelled)."


class SocialLinkMismatch(PermissionDenied):
    code = "social_link_mismatch"
    default_detail = "This link is for another account: sign in to the account it names."


class ReauthenticationRequired(PermissionDenied):
    code = "reauthentication_required"
    default_detail = "Sign in again to do this."


class LastSignInMethod(IAMError):
    status_code = 409
    code = "last_sign_in_method"
    default_detail = (
        "This is the only way left to sign in to the account: set a password or link another "
        "identity first."
    )
