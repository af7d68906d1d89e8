"""Service clients: other services that get tokens with the client-credentials grant."""

from __future__ import annotations

from django.db import models


class ServiceClient(models.Model):
    """A confidential OAuth client. The secret is 256 random bits, stored as its SHA-256 (a slow
    password hash buys nothing for a secret nobody can guess, and would cost every token request
    tens of milliseconds); it is shown once, when created or rotated."""

    client_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=150)
    secret_hash = models.CharField(max_length=64, editable=False)
    allowed_audiences = models.JSONField(
        default=list, help_text='Audiences it may ask tokens for, e.g. ["billing-api"].'
    )
    allowed_scopes = models.JSONField(
        default=list, blank=True, help_text='Scopes it may ask for, e.g. ["invoices:read"].'
    )
    can_introspect = models.BooleanField(
        default=False, help_text="May call the introspection and revocation endpoints."
    )
    tenant = models.ForeignKey(
        "iam_tenancy.Tenant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Optional owner tenant: its tokens then carry the tenant claims tid/tenant.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.client_id} ({self.name})"
