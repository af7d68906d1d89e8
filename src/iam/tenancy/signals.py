"""Changes made outside the tenant API (Django admin, shell) still end sessions at once:
deactivating a tenant ends the sessions scoped to it; deleting a membership ends the member's
sessions in that tenant (the API's removal does it itself first; a second run finds nothing)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from iam.tenancy.models import Membership, Tenant


@receiver(post_save, sender=Tenant)
def _tenant_saved(sender: type, instance: Tenant, **kwargs: Any) -> None:
    if not instance.is_active:
        from iam.tenancy.services import tenant_sessions_revoke

        tenant_sessions_revoke(tenant_id=instance.pk)


@receiver(post_delete, sender=Membership)
def _membership_deleted(sender: type, instance: Membership, **kwargs: Any) -> None:
    from iam.tenancy.services import membership_sessions_end

    membership_sessions_end(user_id=instance.user_id, tenant_id=instance.tenant_id)
