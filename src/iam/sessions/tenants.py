"""A session's tenant: switching it, and ending the sessions of a membership or tenant that ended.

Tenancy does not know about sessions; it tells them through signals: the model signals of
``Tenant`` and ``Membership`` (changes made anywhere: the API, Django admin, the shell) and
``membership_ended`` (a removal through the API, with who asked and from where).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.broadcasts import broadcasts_deferred
from iam.core.conf import iam_settings
from iam.core.exceptions import NotTenantMember, SessionRevoked
from iam.core.http import NO_CLIENT, ClientInfo
from iam.sessions.models import DeviceSession, RevokeReason
from iam.sessions.services import (
    IssuedTokens,
    TokenUser,
    session_tokens_issue,
    sessions_revoke_for_user,
)
from iam.tenancy.models import Membership, Tenant
from iam.tenancy.selectors import membership_get_by_slug, membership_locked
from iam.tenancy.signals import membership_ended


def session_switch_tenant(
    *, user: TokenUser, session_id: Any, slug: str, client: ClientInfo
) -> IssuedTokens:
    """Scope the session to another tenant of the user and issue its new tokens (a new refresh
    token too: the previous one stays usable only within the refresh grace window)."""
    membership = membership_get_by_slug(user_id=user.pk, slug=slug)
    if membership is None:
        raise NotTenantMember()
    now = timezone.now()
    new_jti = uuid.uuid4().hex
    with transaction.atomic():
        session = (
            DeviceSession.objects.select_for_update()
            .filter(pk=session_id, user_id=user.pk, revoked_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if session is None:
            raise SessionRevoked()
        if not membership_locked(user_id=user.pk, tenant_id=membership.tenant_id):
            raise NotTenantMember()  # removed meanwhile
        previous_tenant = session.tenant_id
        session.tenant_id = membership.tenant_id
        session.tenant_switched_at = now
        session.previous_refresh_jti, session.refresh_jti = session.refresh_jti, new_jti
        session.rotated_at = session.last_used_at = now
        session.refresh_expires_at = min(now + iam_settings.refresh_lifetime, session.expires_at)
        session.save(
            update_fields=[
                "tenant",
                "tenant_switched_at",
                "refresh_jti",
                "previous_refresh_jti",
                "rotated_at",
                "last_used_at",
                "refresh_expires_at",
            ]
        )
        audit_record(
            event=AuditEventType.TENANT_SWITCHED,
            client=client,
            user_id=user.pk,
            data={
                "tenant": str(membership.tenant_id),
                "session": str(session.pk),
                "previous": str(previous_tenant) if previous_tenant else None,
            },
        )
    return session_tokens_issue(
        session=session, user=user, refresh_jti=new_jti, membership=membership
    )


def membership_sessions_end(*, user_id: Any, tenant_id: Any, client: ClientInfo = NO_CLIENT) -> int:
    """A membership ended: revoke the user's sessions scoped to that tenant, and those that
    switched away from a tenant within the last access-token lifetime (they may still hold an
    access token for it)."""
    return sessions_revoke_for_user(
        user_id=user_id,
        reason=RevokeReason.MEMBERSHIP_REMOVED,
        client=client,
        tenant_id=tenant_id,
        or_switched_since=timezone.now() - iam_settings.access_lifetime - iam_settings.leeway,
    )


def tenant_sessions_revoke(*, tenant_id: Any) -> int:
    """End every session scoped to a tenant (it was deactivated): refresh fails and the IAM
    refuses their access tokens at once."""
    user_ids = set(
        DeviceSession.objects.filter(tenant_id=tenant_id, revoked_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    with broadcasts_deferred():  # every member's sessions, even if Redis cannot be told
        return sum(
            sessions_revoke_for_user(
                user_id=user_id, reason=RevokeReason.TENANT_DEACTIVATED, tenant_id=tenant_id
            )
            for user_id in user_ids
        )


# Changes made outside the tenant API (Django admin, shell) still end sessions at once:
# deactivating a tenant ends the sessions scoped to it; deleting a membership ends the member's
# sessions in that tenant (the API's removal tells ``membership_ended`` too; a second run finds
# nothing).


@receiver(post_save, sender=Tenant)
def _tenant_saved(sender: type, instance: Tenant, **kwargs: Any) -> None:
    if not instance.is_active:
        tenant_sessions_revoke(tenant_id=instance.pk)


@receiver(post_delete, sender=Membership)
def _membership_deleted(sender: type, instance: Membership, **kwargs: Any) -> None:
    membership_sessions_end(user_id=instance.user_id, tenant_id=instance.tenant_id)


@receiver(membership_ended)
def _membership_ended(
    sender: type, *, user_id: Any, tenant_id: Any, client: ClientInfo, **kwargs: Any
) -> None:
    membership_sessions_end(user_id=user_id, tenant_id=tenant_id, client=client)
