"""Deactivating a tenant (admin, shell, code) ends the sessions scoped to it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from iam.tenancy.models import Tenant


@receiver(post_save, sender=Tenant)
def _tenant_saved(sender: type, instance: Tenant, **kwargs: Any) -> None:
    if not instance.is_active:
        from iam.tenancy.services import tenant_sessions_revoke

        tenant_sessions_revoke(tenant_id=instance.pk)
