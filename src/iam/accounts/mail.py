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
from iam.core.devices import device_describe
from iam.core.mail import (
    BuiltMail,
    frontend_link,
    mail_budget_allows,
    mail_enqueue,
    mail_render,
)
from iam.sessions.models import DeviceSession
from iam.sessions.selectors import sign_in_device_seen

log = logging.getLogger("iam.mail")


class MailKind(StrEnum):
    VERIFY_EMAIL = "verify_email"  # link to verify the account's address
    REGISTRATION_ATTEMPT = "registration_attempt"  # someone registered with a taken address
    PASSWORD_RESET = "password_reset"  # noqa: S105  link to choose a new password
    EMAIL_CHANGE_VERIFY = "email_change_verify"  # link (to the new address) to confirm a change
    EMAIL_CHANGE_ATTEMPT = "email_change_attempt"  # someone asked to move to this taken address
    EMAIL_CHANGED = "email_changed"  # to the old address, once the change took effect
    # security notices (IAM_NOTIFY_*)
    PASSWORD_CHANGED = "password_changed"  # noqa: S105  changed or reset
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    MFA_RESET = "mfa_reset"
    BACKUP_CODES_REGENERATED = "backup_codes_regenerated"
    NEW_SIGN_IN = "new_sign_in"  # a sign-in from a device not seen before (ref: the session)
    SOCIAL_LINKED = "social_linked"  # an identity provider's account can now sign in
    SOCIAL_UNLINKED = "social_unlinked"


# The MFA notices share one template; the sentence says what changed.
_MFA_CHANGES = {
    MailKind.MFA_ENABLED: "two-factor authentication was turned on",
    MailKind.MFA_DISABLED: "two-factor authentication was turned off",
    MailKind.MFA_RESET: "two-factor authentication was turned off by an administrator",
    MailKind.BACKUP_CODES_REGENERATED: "new backup codes were made (the old ones no longer work)",
}

# Linked identities are ways to sign in, like the password: one template for both changes.
_SIGN_IN_METHOD_CHANGES = {
    MailKind.SOCIAL_LINKED: "an account at an identity provider (such as Google or GitHub) was "
    "linked to it and can now sign you in",
    MailKind.SOCIAL_UNLINKED: "an account at an identity provider was unlinked from it and can "
    "no longer sign you in",
}


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


def account_mail_enqueue(
    *, kind: MailKind, user: User | None, to: str | None = None, budgeted: bool = True
) -> None:
    """Queue a mail about ``user`` (to ``to``, or else the address the kind implies).

    ``user=None`` (with ``to``) queues a decoy: the same work and writes as a real mail, for an
    address without an account, which the task then skips. Endpoints that must not reveal
    whether an address has an account do the same thing either way."""
    address = _recipient(kind, user, to) if user is not None else to or ""
    if budgeted and not _budget_allows(kind, address):
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
    template = kind.value
    if kind in _MFA_CHANGES:
        template, context["change"] = "mfa_changed", _MFA_CHANGES[kind]
    if kind in _SIGN_IN_METHOD_CHANGES:
        template, context["change"] = "sign_in_methods_changed", _SIGN_IN_METHOD_CHANGES[kind]
    return mail_render(template=template, context=context, to=_recipient(kind, user, to))


def build_account_mail(*, ref: str, to: str | None, variant: str) -> BuiltMail | None:
    """The mail builder the task calls: nothing for a gone or inactive account."""
    user = User.objects.filter(pk=ref).first()
    if user is None or not user.is_active:
        return None
    message = account_mail_build(kind=MailKind(variant), user=user, to=to)
    return BuiltMail(message=message, user_id=str(user.pk))


# --- security notices -------------------------------------------------------------------------


def security_notice_enqueue(*, kind: MailKind, user: User) -> None:
    """Tell the user that their password, linked identities or second factor changed
    (``IAM_NOTIFY_PASSWORD_CHANGE`` for the ways to sign in, ``IAM_NOTIFY_MFA_CHANGE``), so a
    change they did not make does not go unnoticed."""
    wanted = (
        iam_settings.notify_password_change
        if kind is MailKind.PASSWORD_CHANGED or kind in _SIGN_IN_METHOD_CHANGES
        else iam_settings.notify_mfa_change
    )
    if wanted and user.email:
        # Not counted in the address's mail budget: only the account holder (or whoever holds
        # their credentials) can cause these, and anonymous mails must not crowd them out.
        account_mail_enqueue(kind=kind, user=user, budgeted=False)


def sign_in_notice_enqueue(
    *, session: DeviceSession, device_seen: tuple[bool, bool] | None = None
) -> None:
    """Tell the user about a sign-in from a device none of their sessions came from
    (``IAM_NOTIFY_NEW_DEVICE``): the same user agent in an earlier session is the same device.
    The first sign-in of an account is not news. ``device_seen`` is what
    ``sign_in_device_seen`` answered before ``session`` was opened; without it, it is asked
    here."""
    if not iam_settings.notify_new_device:
        return
    if device_seen is None:
        device_seen = (
            User.objects.filter(pk=session.user_id)
            .values_list(
                *sign_in_device_seen(
                    user_id=session.user_id,
                    user_agent=session.user_agent,
                    exclude_session=session.pk,
                )
            )
            .first()
        )
    if device_seen is None or not device_seen[0] or device_seen[1]:
        return  # (not budgeted either: it takes the password, and the login limits bound it)
    mail_enqueue(builder=build_sign_in_notice, ref=str(session.pk), variant=MailKind.NEW_SIGN_IN)


def build_sign_in_notice(*, ref: str, to: str | None, variant: str) -> BuiltMail | None:
    """When, from where and on what: from the session (nothing if it and its user are gone)."""
    session = DeviceSession.objects.select_related("user").filter(pk=ref).first()
    if session is None or not session.user.is_active:
        return None
    context = {
        "user": session.user,
        "email": session.user.email,
        "when": session.created_at,
        "ip": session.ip or "unknown",
        "device": device_describe(session.user_agent)["label"],
    }
    message = mail_render(template=variant, context=context, to=session.user.email)
    return BuiltMail(message=message, user_id=str(session.user_id))
