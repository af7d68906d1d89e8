"""Account mails: built and sent by a background task, never in the request path.

``account_mail_enqueue`` is what services call. With the database task backend the task row is
written in the same transaction as the change that asks for the mail (it is sent only if that
change commits, and it survives a crash); ``manage.py db_worker`` sends it. Link tokens are made
when the mail is built, so no secret is stored in the queue.

A failed send is retried ``IAM_MAIL_MAX_ATTEMPTS`` times with exponential backoff (deferred tasks
on backends that can defer, at once on the immediate backend), each failure logged; the last one
is logged as an error and audited (``system:mail:failed``), and the task ends as FAILED.

Templates (overridable through ``IAM_TEMPLATE_DIRS``): ``iam/email/<kind>_subject.txt``,
``iam/email/<kind>.txt`` and ``iam/email/<kind>.html``.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import timezone

from iam.accounts.link_tokens import LinkPurpose, link_token_make
from iam.accounts.models import User
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.conf import iam_settings

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


def account_mail_enqueue(*, kind: MailKind, user: User, to: str | None = None) -> None:
    """Queue a mail about ``user`` (to ``to``, or else the address the kind implies)."""
    send_account_mail.enqueue(kind=kind.value, user_id=str(user.pk), to=to, attempt=1)


def _link(purpose: LinkPurpose, user: User) -> str:
    path = (
        iam_settings.frontend_password_reset_path
        if purpose is LinkPurpose.PASSWORD_RESET
        else iam_settings.frontend_verify_email_path
    )
    token = quote(link_token_make(user=user, purpose=purpose), safe="")
    return iam_settings.frontend_url + path.replace("{token}", token)


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
    context: dict[str, Any] = {
        "product_name": iam_settings.product_name,
        "frontend_url": iam_settings.frontend_url,
        "user": user,
        "email": user.email,
        "new_email": user.pending_email,
    }
    if kind in _LINKS:
        purpose = _LINKS[kind]
        context["link"] = _link(purpose, user)
        ttl = (
            iam_settings.password_reset_ttl
            if purpose is LinkPurpose.PASSWORD_RESET
            else iam_settings.email_verification_ttl
        )
        context["valid_hours"] = max(1, int(ttl.total_seconds() // 3600))
    base = f"iam/email/{kind.value}"
    subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{base}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[_recipient(kind, user, to)],
    )
    message.attach_alternative(render_to_string(f"{base}.html", context), "text/html")
    return message


@task()
def send_account_mail(*, kind: str, user_id: str, to: str | None = None, attempt: int = 1) -> str:
    """Build and send one account mail; retried on failure (see the module docstring)."""
    mail_kind = MailKind(kind)
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.is_active:
        log.info("mail %s skipped: the account is gone or inactive", kind)
        return "skipped"
    message = account_mail_build(kind=mail_kind, user=user, to=to)
    if not message.to or not message.to[0]:
        log.info("mail %s skipped: no recipient (the pending change was withdrawn)", kind)
        return "skipped"
    try:
        message.send()
    except Exception as exc:
        return _failed(kind=mail_kind, user=user, to=to, attempt=attempt, error=exc)
    log.info("mail %s sent", kind, extra={"user_id": str(user.pk), "attempt": attempt})
    return "sent"


def _failed(*, kind: MailKind, user: User, to: str | None, attempt: int, error: Exception) -> str:
    reason = type(error).__name__
    extra = {"user_id": str(user.pk), "attempt": attempt, "error": reason}
    if attempt >= iam_settings.mail_max_attempts:
        log.error(
            "mail %s failed for good after %s attempts (%s)", kind, attempt, reason, extra=extra
        )
        audit_record(
            event=AuditEventType.MAIL_FAILED,
            user_id=user.pk,
            data={"kind": kind.value, "attempts": attempt, "error": reason},
        )
        raise error
    delay = iam_settings.mail_retry_delay * (2 ** (attempt - 1))
    log.warning("mail %s failed (attempt %s, %s); retrying", kind, attempt, reason, extra=extra)
    retry = {"kind": kind.value, "user_id": str(user.pk), "to": to, "attempt": attempt + 1}
    if send_account_mail.get_backend().supports_defer:
        send_account_mail.using(run_after=timezone.now() + delay).enqueue(**retry)
        return "retrying"
    return send_account_mail.call(**retry)
