import uuid

from django.conf import settings
from django.db import models


class Transport(models.TextChoices):
    COOKIE = "cookie"  # access and refresh only in HttpOnly cookies
    HYBRID = "hybrid"  # access in the body, refresh in an HttpOnly cookie
    BODY = "body"  # both in the body (mobile, CLI, services)


class DeviceSession(models.Model):
    """One signed-in device. Its refresh tokens rotate; only their ``jti`` is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="device_sessions",
        db_index=False,  # session_user_live (user, revoked_at) serves every lookup by user
    )
    transport = models.CharField(max_length=8, choices=Transport.choices)
    amr = models.JSONField(default=list)
    # The active tenant: its claims are in every token of the session (None: no tenant claims).
    tenant = models.ForeignKey(
        "iam_tenancy.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # When the session last changed tenant: its older access tokens may name the previous one.
    tenant_switched_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="Absolute end: the user signs in again after it.")
    refresh_expires_at = models.DateTimeField(help_text="When the current refresh token expires.")
    refresh_jti = models.CharField(max_length=64)
    previous_refresh_jti = models.CharField(max_length=64, blank=True, default="")
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["user", "revoked_at"], name="session_user_live"),
            # cleanup_sessions finds sessions revoked before the retention cutoff by this one
            models.Index(
                fields=["revoked_at"],
                name="session_revoked",
                condition=models.Q(revoked_at__isnull=False),
            ),
            models.Index(fields=["refresh_expires_at"], name="session_refresh_exp"),
            models.Index(fields=["expires_at"], name="session_abs_exp"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.user_id})"


class RevokeReason(models.TextChoices):
    LOGOUT = "logout"
    REFRESH_REUSED = "refresh_reused"
    USER_INACTIVE = "user_inactive"
    ADMIN = "admin"
    USER = "user"  # the user ended it from their session list or with logout-all
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    PASSWORD_RESET = "password_reset"  # noqa: S105
    ACCOUNT_DELETED = "account_deleted"
    MEMBERSHIP_REMOVED = "membership_removed"
    TENANT_DEACTIVATED = "tenant_deactivated"
    MFA_CHANGED = "mfa_changed"  # two-factor turned on or off, or reset by an operator
    CLIENT_REVOKED = "client_revoked"  # RFC 7009 revocation by a service client
