"""Second factors: one TOTP authenticator per user, its backup codes, and pending sign-ins."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class TotpDevice(models.Model):
    """A user's authenticator app. Unconfirmed (``confirmed_at`` null) until a first code proves
    the user holds it; only a confirmed device turns MFA on. The secret is encrypted with the
    key-encryption keys (``iam.core.crypto``), like the signing keys."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device"
    )
    secret_encrypted = models.BinaryField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The newest time step whose code was accepted: that code and every older one are refused.
    last_used_step = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "TOTP authenticator"

    def __str__(self) -> str:
        state = "on" if self.confirmed_at else "unconfirmed"
        return f"TOTP for {self.user_id} ({state})"


class BackupCode(models.Model):
    """A single-use recovery code, stored as a salted SHA-256 digest (never the code)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="backup_codes",
        db_index=False,  # the (user, used_at) index serves every lookup by user
    )
    salt = models.CharField(max_length=32, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at"])]

    def __str__(self) -> str:
        return f"backup code {self.pk} of {self.user_id}"


class MfaChallenge(models.Model):
    """A sign-in that passed the password and waits for the second factor. The client holds the
    opaque ``mfa_token``; only its SHA-256 is stored. It carries what the login asked for
    (transport, tenant) and dies when used, expired, after too many wrong codes, or when the
    password changes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mfa_challenges"
    )
    transport = models.CharField(max_length=8)
    tenant = models.ForeignKey(
        "iam_tenancy.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # the tenant asked for at the password step is not one of the user's: refused after the code
    tenant_refused = models.BooleanField(default=False)
    # the identity provider the first factor was signed in at; "" for a password
    provider = models.CharField(max_length=32, blank=True, default="")
    password_fingerprint = models.CharField(max_length=64, editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"MFA challenge {self.pk} for {self.user_id}"
