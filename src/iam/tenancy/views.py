"""A mixin for DRF generic views over tenant-owned rows (``TenantOwned`` models)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from iam.tenancy.permissions import IsTenantMember


class TenantScopedMixin:
    """Put it first in a generic view's bases: every row it can list, retrieve, update or delete
    is one of ``request.tenant``'s, and rows it creates belong to ``request.tenant`` whatever the
    input says (keep ``tenant`` out of the serializer's writable fields). No tenant -> no rows.
    Requires a tenant-scoped token unless the view narrows ``permission_classes`` further."""

    permission_classes = [IsTenantMember]

    def get_queryset(self) -> QuerySet:
        return super().get_queryset().for_tenant(self.request.tenant)  # type: ignore[misc]

    def perform_create(self, serializer: Any) -> None:
        serializer.save(tenant_id=self.request.tenant.id)  # type: ignore[attr-defined]
