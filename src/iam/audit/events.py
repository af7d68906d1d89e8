from enum import StrEnum


class AuditEventType(StrEnum):
    """Every audit event type, ``subject:object:action``. Later issues add members here."""

    LOGIN_SUCCEEDED = "user:login:succeeded"
    LOGIN_FAILED = "user:login:failed"
    TOKEN_REFRESHED = "session:refresh:rotated"  # noqa: S105 (an event name)
    REFRESH_REUSE_DETECTED = "session:refresh:reuse_detected"
    LOGOUT = "session:session:logout"
    SESSION_REVOKED = "session:session:revoked"
    SIGNING_KEY_ROTATED = "system:signing_key:rotated"
    # account lifecycle
    USER_REGISTERED = "user:account:registered"
    REGISTRATION_ATTEMPT_EXISTING = "user:account:registration_attempt_existing"
    EMAIL_VERIFICATION_SENT = "user:email:verification_sent"
    EMAIL_VERIFIED = "user:email:verified"
    EMAIL_CHANGE_REQUESTED = "user:email:change_requested"
    EMAIL_CHANGED = "user:email:changed"
    EMAIL_CHANGE_WITHDRAWN = "user:email:change_withdrawn"
    MAIL_SUPPRESSED = "system:mail:suppressed"
    PASSWORD_RESET_REQUESTED = "user:password:reset_requested"  # noqa: S105
    PASSWORD_RESET_COMPLETED = "user:password:reset_completed"  # noqa: S105
    PASSWORD_CHANGED = "user:password:changed"  # noqa: S105
    PROFILE_UPDATED = "user:profile:updated"
    ACCOUNT_DELETED = "user:account:deleted"
    MAIL_FAILED = "system:mail:failed"
    # tenants
    TENANT_CREATED = "tenant:tenant:created"
    TENANT_SWITCHED = "session:tenant:switched"
    MEMBER_ROLE_CHANGED = "tenant:member:role_changed"
    MEMBER_REMOVED = "tenant:member:removed"
    MEMBER_LEFT = "tenant:member:left"
    INVITATION_CREATED = "tenant:invitation:created"
    INVITATION_REVOKED = "tenant:invitation:revoked"
    INVITATION_ACCEPTED = "tenant:invitation:accepted"
    # service clients
    SERVICE_CLIENT_CREATED = "client:client:created"
    SERVICE_CLIENT_SECRET_ROTATED = "client:secret:rotated"  # noqa: S105
    SERVICE_CLIENT_AUTH_FAILED = "client:auth:failed"
    SERVICE_TOKEN_ISSUED = "client:token:issued"  # noqa: S105
    # two-factor authentication
    MFA_SETUP_STARTED = "user:mfa:setup_started"
    MFA_ENABLED = "user:mfa:enabled"
    MFA_DISABLED = "user:mfa:disabled"
    MFA_RESET = "user:mfa:reset"
    MFA_BACKUP_CODES_REGENERATED = "user:mfa:backup_codes_regenerated"
    MFA_BACKUP_CODE_USED = "user:mfa:backup_code_used"
    MFA_CODE_REJECTED = "user:mfa:code_rejected"
    LOGIN_MFA_REQUIRED = "user:login:mfa_required"
    # abuse protection
    LOGIN_LOCKED = "user:login:locked"
    LOGIN_UNLOCKED = "user:login:unlocked"
    # social sign-in
    SOCIAL_LINKED = "user:social:linked"
    SOCIAL_UNLINKED = "user:social:unlinked"
    SOCIAL_LINK_REQUIRED = "user:social:link_required"
    SOCIAL_REFUSED = "user:social:refused"
