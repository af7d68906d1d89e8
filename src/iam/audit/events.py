from enum import StrEnum


class AuditEventType(StrEnum):
    """Every audit event type, ``subject:object:action``. Later issues add members here."""

    LOGIN_SUCCEEDED = "user:login:succeeded"
    LOGIN_FAILED = "user:login:failed"
    TOKEN_REFRESHED = "session:refresh:rotated"  # noqa: S105 (an event name)
    REFRESH_REUSE_DETECTED = "session:refresh:reuse_detected"
    LOGOUT = "session:session:logout"
    SIGNING_KEY_ROTATED = "system:signing_key:rotated"
