"""Tenant writes: create, member role changes and removal, invitations (a session's tenant:
``iam.sessions.tenants``). Every decision re-reads the acting user's membership from the
database (the token's claims may be up to one access-token lifetime old), and every change is
audited with the actor.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import IntegrityError, transaction
from django.utils import timezone

from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.broadcasts import broadcasts_deferred
from iam.core.conf import iam_settings
from iam.core.exceptions import (
    AccountTokenExpired,
    AccountTokenUsed,
    AlreadyMember,
    InvitationEmailMismatch,
    LastOwner,
    MissingPermission,
    NotFound,
    NotTenantMember,
    RoleAboveOwn,
    UnknownRole,
)
from iam.core.http import ClientInfo
from iam.core.identifiers import identifier_key
from iam.tenancy.invitation_tokens import invitation_token_check
from iam.tenancy.mail import invitation_mail_enqueue
from iam.tenancy.models import Invitation, Membership, Role, Tenant
from iam.tenancy.roles import DEFAULT_INVITE_ROLE, OWNER
from iam.tenancy.selectors import membership_get, role_get
from iam.tenancy.signals import membership_ended

User = AbstractBaseUser  # settings.AUTH_USER_MODEL (iam.accounts sits above this app)


def _actor_membership(*, actor: User, tenant_id: Any, needs: str | None = None) -> Membership:
    """The actor's current membership (from the database, not the token), holding ``needs``."""
    membership = membership_get(user_id=actor.pk, tenant_id=tenant_id)
    if membership is None:
        raise NotTenantMember()
    if needs is not None and needs not in membership.role.permissions:
        raise MissingPermission()
    return membership


def _role(name: str) -> Role:
    role = role_get(name=name)
    if role is None:
        raise UnknownRole()
    return role


def _owners_left(tenant_id: Any) -> int:
    return Membership.objects.filter(
        tenant_id=tenant_id, role__name=OWNER, user__is_active=True
    ).count()


def _member_locked(*, tenant_id: Any, user_id: Any) -> Membership:
    """The member of this tenant (only this tenant's rows), locked, else 404."""
    target = (
        Membership.objects.for_tenant(tenant_id)
        .select_related("role")
        .select_for_update(of=("self",))
        .filter(user_id=user_id)
        .first()
    )
    if target is None:
        raise NotFound("No such member.")
    return target


def _tenant_lock(tenant_id: Any) -> None:
    """Serialise membership changes of one tenant (the last-owner rule reads other rows)."""
    Tenant.objects.select_for_update().filter(pk=tenant_id).first()


def _refuse_last_owner(membership: Membership) -> None:
    if membership.role.name == OWNER and _owners_left(membership.tenant_id) <= 1:
        raise LastOwner(
            f"You are the last owner of {membership.tenant_id}; appoint another owner first."
        )


def memberships_leave_check(*, user: User) -> None:
    """``LastOwner`` now if ``memberships_leave_all`` would refuse: checked before anything is
    spent on a deletion (such as a second-factor code). Takes no locks; the leave itself checks
    again under them."""
    for membership in Membership.objects.filter(user=user).select_related("role"):
        _refuse_last_owner(membership)


def memberships_leave_all(*, user: User) -> None:
    """Remove every membership of a user whose account is being deleted; refused (409
    ``last_owner``) while they are a tenant's only owner: appoint another owner first."""
    for membership in Membership.objects.filter(user=user).select_related("role"):
        _tenant_lock(membership.tenant_id)
        _refuse_last_owner(membership)
    deleted = list(Membership.objects.filter(user=user).values_list("tenant_id", flat=True))
    Membership.objects.filter(user=user).delete()
    for tenant_id in deleted:
        audit_record(
            event=AuditEventType.MEMBER_LEFT,
            user_id=user.pk,
            data={"tenant": str(tenant_id), "member": str(user.pk), "reason": "account_deleted"},
        )


def tenant_create(*, name: str, slug: str, owner: User, domain: str | None = None) -> Tenant:
    """A new tenant with ``owner`` as its first owner (operators: admin or ``create_tenant``)."""
    with transaction.atomic():
        tenant = Tenant(name=name, slug=slug, domain=domain)
        tenant.full_clean()
        tenant.save()
        Membership.objects.create(tenant=tenant, user=owner, role=_role(OWNER))
        audit_record(
            event=AuditEventType.TENANT_CREATED,
            user_id=None,
            data={"tenant": str(tenant.pk), "owner": str(owner.pk)},
        )
    return tenant


def member_role_change(
    *, actor: User, tenant_id: Any, user_id: Any, role_name: str, client: ClientInfo
) -> Membership:
    """Give a member another role. Nobody gives a role above their own or changes a member ranked
    above them; the last owner cannot be demoted."""
    role = _role(role_name)
    with transaction.atomic():
        _tenant_lock(tenant_id)
        mine = _actor_membership(actor=actor, tenant_id=tenant_id, needs="members.manage")
        target = _member_locked(tenant_id=tenant_id, user_id=user_id)
        if role.rank > mine.role.rank or target.role.rank > mine.role.rank:
            raise RoleAboveOwn()
        if target.role.name == OWNER and role.name != OWNER and _owners_left(tenant_id) <= 1:
            raise LastOwner()
        previous = target.role.name
        target.role = role
        target.save(update_fields=["role"])
        audit_record(
            event=AuditEventType.MEMBER_ROLE_CHANGED,
            client=client,
            user_id=actor.pk,
            data={
                "tenant": str(tenant_id),
                "member": str(user_id),
                "role": role.name,
                "previous": previous,
            },
        )
    return target


def member_remove(*, actor: User, tenant_id: Any, user_id: Any, client: ClientInfo) -> None:
    """Remove a member (or leave, when ``user_id`` is the actor). Their sessions scoped to this
    tenant are revoked at once: refresh fails and the IAM refuses their access tokens."""
    # The removal, its event and the sessions' revocations commit even if Redis cannot be told
    # (the membership's post_delete signal revokes them inside this transaction); then 503.
    with broadcasts_deferred():
        _member_remove(actor=actor, tenant_id=tenant_id, user_id=user_id, client=client)


def _member_remove(*, actor: User, tenant_id: Any, user_id: Any, client: ClientInfo) -> None:
    leaving = str(user_id) == str(actor.pk)
    with transaction.atomic():
        _tenant_lock(tenant_id)
        mine = _actor_membership(
            actor=actor, tenant_id=tenant_id, needs=None if leaving else "members.manage"
        )
        target = _member_locked(tenant_id=tenant_id, user_id=user_id)
        if not leaving and target.role.rank > mine.role.rank:
            raise RoleAboveOwn()
        if target.role.name == OWNER and _owners_left(tenant_id) <= 1:
            raise LastOwner()
        target.delete()
        event = AuditEventType.MEMBER_LEFT if leaving else AuditEventType.MEMBER_REMOVED
        audit_record(
            event=event,
            client=client,
            user_id=actor.pk,
            data={"tenant": str(tenant_id), "member": str(user_id)},
        )
    membership_ended.send(sender=Membership, user_id=user_id, tenant_id=tenant_id, client=client)


def invitation_create(
    *, actor: User, tenant_id: Any, email: str, role_name: str | None, client: ClientInfo
) -> Invitation:
    """Invite an address with a role (at most the actor's own); a mail carries the link."""
    role = _role(role_name or DEFAULT_INVITE_ROLE)
    email = BaseUserManager.normalize_email(email.strip())
    with transaction.atomic():
        mine = _actor_membership(actor=actor, tenant_id=tenant_id, needs="members.invite")
        if role.rank > mine.role.rank:
            raise RoleAboveOwn()
        key = identifier_key(email)  # every spelling of the address is the same invitee
        if Membership.objects.for_tenant(tenant_id).filter(user__email_key=key).exists():
            raise AlreadyMember()
        # a new invitation to the same address replaces the open one
        Invitation.objects.for_tenant(tenant_id).filter(
            email_key=key, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        invitation = Invitation.objects.create(
            tenant_id=tenant_id,
            email=email,
            role=role,
            invited_by=actor,
            expires_at=timezone.now() + iam_settings.invitation_ttl,
        )
        audit_record(
            event=AuditEventType.INVITATION_CREATED,
            client=client,
            user_id=actor.pk,
            data={"tenant": str(tenant_id), "invitation": str(invitation.pk), "role": role.name},
        )
        invitation_mail_enqueue(invitation=invitation)
    return invitation


def invitation_revoke(
    *, actor: User, tenant_id: Any, invitation_id: Any, client: ClientInfo
) -> None:
    with transaction.atomic():
        _actor_membership(actor=actor, tenant_id=tenant_id, needs="members.invite")
        changed = (
            Invitation.objects.for_tenant(tenant_id)
            .filter(pk=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True)
            .update(revoked_at=timezone.now())
        )
        if not changed:
            raise NotFound("No such open invitation.")
        audit_record(
            event=AuditEventType.INVITATION_REVOKED,
            client=client,
            user_id=actor.pk,
            data={"tenant": str(tenant_id), "invitation": str(invitation_id)},
        )


def invitation_accept(*, user: User, token: str, client: ClientInfo) -> Membership:
    """Join the tenant of an invitation. The signed-in user's (verified) address must be the
    invited one; the link works once, until it expires or is revoked."""
    invitation = invitation_token_check(token)
    if invitation.accepted_at or invitation.revoked_at or not invitation.tenant.is_active:
        raise AccountTokenUsed()
    if invitation.expires_at <= timezone.now():
        raise AccountTokenExpired()
    if user.email_key != invitation.email_key or not user.email_verified:
        raise InvitationEmailMismatch()
    try:
        with transaction.atomic():
            won = Invitation.objects.filter(
                pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
            ).update(accepted_at=timezone.now(), accepted_by=user)
            if not won:
                raise AccountTokenUsed()
            membership = Membership.objects.create(
                tenant=invitation.tenant, user=user, role=invitation.role
            )
            audit_record(
                event=AuditEventType.INVITATION_ACCEPTED,
                client=client,
                user_id=user.pk,
                data={
                    "tenant": str(invitation.tenant_id),
                    "invitation": str(invitation.pk),
                    "role": invitation.role.name,
                },
            )
    except IntegrityError as exc:
        raise AlreadyMember() from exc
    membership.tenant = invitation.tenant
    return membership
