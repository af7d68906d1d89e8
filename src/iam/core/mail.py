"""Mail delivery: built and sent by a background task, never in the request path.

``mail_enqueue`` is what services call. With the database task backend the task row is written in
the same transaction as the change that asks for the mail (it is sent only if that change commits,
and it survives a crash); ``manage.py db_worker`` sends it. The task stores only a reference (an
id) and the name of the function that builds the message, so link tokens are made when the mail is
built and no secret is stored in the queue.

A failed send is retried ``IAM_MAIL_MAX_ATTEMPTS`` times with exponential backoff (deferred tasks
on backends that can defer, at once on the immediate backend), each failure logged; the last one
is logged as an error and audited (``system:mail:failed``), and the task ends as FAILED.

Templates (overridable through ``IAM_TEMPLATE_DIRS``): ``iam/email/<name>_subject.txt``,
``iam/email/<name>.txt`` and ``iam/email/<name>.html``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.dispatch import Signal
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string

from iam.core.conf import iam_settings
from iam.core.identifiers import identifier_key
from iam.core.ratelimit import ratelimit_cache

log = logging.getLogger("iam.mail")


@dataclass(frozen=True, slots=True)
class BuiltMail:
    message: EmailMultiAlternatives
    user_id: str | None = None  # whom the failure audit event is about


# builder(ref=..., to=..., variant=...) -> BuiltMail, or None when the mail is no longer due
MailBuilder = Callable[..., BuiltMail | None]

# A mail failed for good (its last attempt): ``user_id`` (whom it was about, or None), ``kind``
# (the builder's name), ``attempts``, ``error`` (the exception's class name). ``iam.audit``
# records it as ``system:mail:failed``.
mail_failed = Signal()


def mail_enqueue(
    *, builder: MailBuilder, ref: str, variant: str = "", to: str | None = None
) -> None:
    """Queue a mail that ``builder`` makes from ``ref`` when the task runs."""
    path = f"{builder.__module__}.{builder.__qualname__}"
    send_mail.enqueue(builder=path, ref=ref, variant=variant, to=to, attempt=1)


_BUDGET_WINDOW = 3600


def mail_budget_allows(*, address: str, unsolicited: bool) -> bool:
    """At most ``IAM_MAIL_BUDGET_PER_ADDRESS`` mails per address (every spelling of it: its
    ``identifier_key``) and hour, whoever asks
    (``IAM_MAIL_BUDGET_UNSOLICITED`` for mails to an address the requester has not shown to own),
    so a flood of requests from many clients or accounts cannot bury an inbox. Callers drop the
    mail silently when over budget (the API's answer never depends on it).

    Counted in the rate-limit cache like the request limits: while Redis is unreachable, each
    process counts on its own (an address gets at most the budget per process and hour), so an
    outage neither stops account mails nor lifts the budget."""
    limit = iam_settings.mail_budget_unsolicited if unsolicited else iam_settings.mail_budget
    key = f"iam:mail-budget:{int(unsolicited)}:{identifier_key(address)}"
    count, _ = ratelimit_cache.incr_window(key, _BUDGET_WINDOW)  # from the first mail on
    return count <= limit


def mail_render(*, template: str, context: dict[str, Any], to: str) -> EmailMultiAlternatives:
    """A text + HTML message from ``iam/email/<template>*`` templates."""
    context = {
        "product_name": iam_settings.product_name,
        "frontend_url": iam_settings.frontend_url,
        **context,
    }
    base = f"iam/email/{template}"
    subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{base}.txt", context),
        from_email=str(settings.DEFAULT_FROM_EMAIL),
        to=[to],
    )
    message.attach_alternative(render_to_string(f"{base}.html", context), "text/html")
    return message


def frontend_link(path_template: str, token: str) -> str:
    """``IAM_FRONTEND_URL`` + a path with ``{token}`` (never the request's Host). The token's
    ``:`` separators stay as they are (valid in a path segment and a query): the link then
    holds the token exactly as the API takes it, for whoever copies it by hand."""
    from urllib.parse import quote

    return iam_settings.frontend_url + path_template.replace("{token}", quote(token, safe=":"))


def _builder(path: str) -> MailBuilder:
    if not path.startswith("iam."):
        raise ValueError(f"not a mail builder: {path}")
    return import_string(path)


@task()
def send_mail(
    *, builder: str, ref: str, variant: str = "", to: str | None = None, attempt: int = 1
) -> str:
    """Build and send one mail; retried on failure (see the module docstring)."""
    built = _builder(builder)(ref=ref, to=to, variant=variant)
    name = variant or builder.rsplit(".", 1)[-1]
    if built is None or not built.message.to or not built.message.to[0]:
        log.info("mail %s skipped: no longer due", name)
        return "skipped"
    try:
        built.message.send()
    except Exception as exc:
        retry = {"builder": builder, "ref": ref, "variant": variant, "to": to}
        return _failed(name=name, built=built, retry=retry, attempt=attempt, error=exc)
    log.info("mail %s sent", name, extra={"user_id": built.user_id, "attempt": attempt})
    return "sent"


def _failed(
    *, name: str, built: BuiltMail, retry: dict[str, Any], attempt: int, error: Exception
) -> str:
    reason = type(error).__name__
    extra = {"user_id": built.user_id, "attempt": attempt, "error": reason}
    if attempt >= iam_settings.mail_max_attempts:
        log.error(
            "mail %s failed for good after %s attempts (%s)", name, attempt, reason, extra=extra
        )
        mail_failed.send(
            sender=BuiltMail, user_id=built.user_id, kind=name, attempts=attempt, error=reason
        )
        raise error
    delay = iam_settings.mail_retry_delay * (2 ** (attempt - 1))
    log.warning("mail %s failed (attempt %s, %s); retrying", name, attempt, reason, extra=extra)
    if send_mail.get_backend().supports_defer:
        send_mail.using(run_after=timezone.now() + delay).enqueue(**retry, attempt=attempt + 1)
        return "retrying"
    return send_mail.call(**retry, attempt=attempt + 1)
