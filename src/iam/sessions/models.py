import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql.compiler import SQLCompiler


class UTCDate(models.Func):
    """The UTC calendar day of a timestamp, written so that the database can keep it in a
    generated column (only immutable expressions may be): ``TruncDate`` calls a function of
    Django's own on SQLite, which no other client of the file has."""

    output_field = models.DateField()

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        template = "((%(expressions)s AT TIME ZONE 'UTC')::date)"
        sql, params = self.as_sql(compiler, connection, template=template, **extra)
        return sql, tuple(params)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        # Django keeps aware datetimes in SQLite as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]"
        sql, params = self.as_sql(compiler, connection, function="date", **extra)
        return sql, tuple(params)


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
    # The (UTC) day of refresh_expires_at, kept by the database: what cleanup_sessions finds idle
    # sessions by. A rotation moves refresh_expires_at and almost never its day, and no index
    # holds a column a rotation writes, so PostgreSQL rewrites the row as a heap-only tuple (HOT)
    # and writes no index entry; an index on refresh_expires_at itself would cost one entry in
    # every index of the table on every refresh.
    refresh_expires_day = models.GeneratedField(
        expression=UTCDate("refresh_expires_at"),
        output_field=models.DateField(),
        db_persist=True,
    )
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
            models.Index(fields=["refresh_expires_day"], name="session_refresh_exp_day"),
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
