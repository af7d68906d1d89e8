"""Account mails (verification, reset, notices), sent through ``iam.core.mail``."""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum
from typing import Any

from django.core.mail import EmailMultiAlternatives

from iam.accounts.link_tokens import LinkPurpose, link_token_make
from iam.accounts.models import User
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.conf import iam_settings
from iam.core.mail import (
    BuiltMail,
    frontend_link,
    mail_budget_allows,
    mail_enqueue,
    mail_render,
)

log = logging.getLogger("iam.mail")


class MailKind(StrEnum):
    VERIFY_EMAIL = "verify_email"  # link to verify the account's address
    REGISTRATION_ATTEMPT = "registration_attempt"  # someone registered with a taken address
    PASSWORD_RESET = "password_reset"  # noqa: S105  link to choose a new password
    EMAIL_CHANGE_VERIFY = "email_change_verify"  # link (to the new address) to confirm a change
    EMAIL_CHANGE_ATTEMPT = "email_change_attempt"  # someone asked to move to this taken address
    EMAIL_CHANGED = "email_changed"  # to the old address, once the change took effect


_LINKS: dict[MailKind, LinkPurpose] = {
    MailKind.VERIFY_EMAIL: LinkPurpose.VERIFY_EMAIL,
    MailKind.EMAIL_CHANGE_VERIFY: LinkPurpose.EMAIL_CHANGE,
    MailKind.PASSWORD_RESET: LinkPurpose.PASSWORD_RESET,
}


# Mails to an address its requester has not shown to own (a notice to the owner of a taken
# address, a link to a requested new address) have a smaller budget than the rest.
UNSOLICITED = frozenset(
    {MailKind.REGISTRATION_ATTEMPT, MailKind.EMAIL_CHANGE_VERIFY, MailKind.EMAIL_CHANGE_ATTEMPT}
)


def _budget_allows(kind: MailKind, address: str) -> bool:
    return mail_budget_allows(address=address, unsolicited=kind in UNSOLICITED)


def account_mail_enqueue(*, kind: MailKind, user: User | None, to: str | None = None) -> None:
    """Queue a mail about ``user`` (to ``to``, or else the address the kind implies).

    ``user=None`` (with ``to``) queues a decoy: the same work and writes as a real mail, for an
    address without an account, which the task then skips. Endpoints that must not reveal
    whether an address has an account do the same thing either way."""
    address = _recipient(kind, user, to) if user is not None else to or ""
    if not _budget_allows(kind, address):
        log.warning("mail %s dropped: the address is over its hourly budget", kind.value)
        audit_record(
            event=AuditEventType.MAIL_SUPPRESSED,
            user_id=user.pk if user else None,
            data={"kind": kind.value},
        )
        return
    ref = str(user.pk) if user is not None else str(uuid.uuid4())  # no such account: skipped
    mail_enqueue(
        builder=build_account_mail,
        ref=ref,
        variant=kind.value,
        to=to if user is not None else None,
    )


def account_mails_forget(*, user: User) -> int:
    """Delete the stored mail tasks about ``user`` (queued or done; they may hold addresses)."""
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(args_kwargs__kwargs__ref=str(user.pk)).delete()[0]


def _recipient(kind: MailKind, user: User, to: str | None) -> str:
    if to:
        return to
    if kind is MailKind.EMAIL_CHANGE_VERIFY:
        return user.pending_email
    return user.email


def account_mail_build(
    *, kind: MailKind, user: User, to: str | None = None
) -> EmailMultiAlternatives:
    """The message, rendered from the kind's templates (links carry fresh tokens)."""
    context: dict[str, Any] = {"user": user, "email": user.email, "new_email": user.pending_email}
    if kind in _LINKS:
        purpose = _LINKS[kind]
        reset = purpose is LinkPurpose.PASSWORD_RESET
        path = (
            iam_settings.frontend_password_reset_path
            if reset
            else iam_settings.frontend_verify_email_path
        )
        context["link"] = frontend_link(path, link_token_make(user=user, purpose=purpose))
        ttl = iam_settings.password_reset_ttl if reset else iam_settings.email_verification_ttl
        context["valid_hours"] = max(1, int(ttl.total_seconds() // 3600))
    return mail_render(template=kind.value, context=context, to=_recipient(kind, user, to))


def build_account_mail(*, ref: str, to: str | None, variant: str) -> BuiltMail | None:
    """The mail builder the task calls: nothing for a gone or inactive account."""
    user = User.objects.filter(pk=ref).first()
    if user is None or not user.is_active:
        return None
    message = account_mail_build(kind=MailKind(variant), user=user, to=to)
    return BuiltMail(message=message, user_id=str(user.pk))
