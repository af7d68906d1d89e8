"""Tenants (organisations), roles, memberships, invitations, and the base of tenant-owned rows."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from iam.core.identifiers import identifier_key

_PERMISSION = RegexValidator(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", "Use area.action strings.")


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=63, unique=True, help_text="Also its sub-domain.")
    domain = models.CharField(
        max_length=253,
        null=True,
        blank=True,
        unique=True,
        help_text="Optional own domain (e.g. login.acme.com) that selects this tenant.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        self.slug = self.slug.lower()
        self.domain = (self.domain or "").strip().lower() or None


class Role(models.Model):
    """A named set of permissions, shared by every tenant (defaults in ``roles.py``)."""

    name = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    rank = models.PositiveSmallIntegerField(
        help_text="Higher ranks may manage lower ones; nobody can give a role above their own."
    )
    permissions = models.JSONField(default=list, blank=True, help_text='e.g. ["billing.read"]')

    class Meta:
        ordering = ["-rank"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if not isinstance(self.permissions, list) or not all(
            isinstance(p, str) for p in self.permissions
        ):
            raise ValidationError({"permissions": "A list of permission strings."})
        for permission in self.permissions:
            _PERMISSION(permission)
        self.permissions = sorted(set(self.permissions))


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Any) -> TenantQuerySet:
        """Only the rows of ``tenant`` (a Tenant, a ``TenantRef`` or an id); no tenant -> none."""
        if not tenant:
            return self.none()
        return self.filter(tenant_id=getattr(tenant, "id", tenant))


class Membership(models.Model):
    # membership_unique (tenant, user) serves every lookup by tenant
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.tenant_id} as {self.role_id}"


class TenantOwned(models.Model):
    """Base of rows that belong to one tenant. APIs reach them only through
    ``Model.objects.for_tenant(request.tenant)`` (``iam.tenancy.views.TenantScopedMixin`` does
    it), and the tenant of
    a new row is taken from the request, never from input, so another tenant's rows can neither be
    read nor written."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class Invitation(TenantOwned):
    """An invitation to join a tenant with a role, sent to an e-mail address."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254)
    # compared with ``User.email_key`` (``iam.core.identifiers``)
    email_key = models.CharField(max_length=64, editable=False)
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="+")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            # one open invitation per address and tenant
            models.UniqueConstraint(
                fields=["tenant", "email_key"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_open_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant_id}"

    def save(self, **kwargs: Any) -> None:
        self.email_key = identifier_key(self.email or "")
        fields = kwargs.get("update_fields")
        if fields is not None and "email" in fields:
            kwargs["update_fields"] = {*fields, "email_key"}
        super().save(**kwargs)
