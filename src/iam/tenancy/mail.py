"""The invitation mail, sent through ``iam.core.mail`` (the link token is made at send time)."""

from __future__ import annotations

import logging

from django.utils import timezone

from iam.core.conf import iam_settings
from iam.core.mail import (
    BuiltMail,
    frontend_link,
    mail_budget_allows,
    mail_enqueue,
    mail_render,
)
from iam.tenancy.invitation_tokens import invitation_token_make
from iam.tenancy.models import Invitation

log = logging.getLogger("iam.mail")


def invitation_mail_enqueue(*, invitation: Invitation) -> bool:
    """Queue the invitation mail, within the address's budget for unsolicited mail (repeated
    invitations cannot be used to flood an inbox). False when dropped."""
    if not mail_budget_allows(address=invitation.email, unsolicited=True):
        log.warning("invitation mail dropped: the address is over its hourly budget")
        return False
    mail_enqueue(builder=build_invitation_mail, ref=str(invitation.pk))
    return True


def build_invitation_mail(*, ref: str, to: str | None, variant: str) -> BuiltMail | None:
    """Nothing once the invitation was accepted, revoked or expired."""
    invitation = (
        Invitation.objects.select_related("tenant", "role", "invited_by")
        .filter(pk=ref, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or invitation.expires_at <= timezone.now():
        return None
    link = frontend_link(iam_settings.frontend_invitation_path, invitation_token_make(invitation))
    inviter = invitation.invited_by
    context = {
        "tenant_name": invitation.tenant.name,
        "role": invitation.role.label,
        "inviter": (inviter.name or inviter.email) if inviter else "",
        "email": invitation.email,
        "link": link,
        "valid_days": max(1, int(iam_settings.invitation_ttl.total_seconds() // 86400)),
    }
    message = mail_render(template="tenant_invitation", context=context, to=invitation.email)
    return BuiltMail(message=message, user_id=str(inviter.pk) if inviter else None)
