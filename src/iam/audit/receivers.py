"""Events the apps below audit report through hooks instead of imports (``iam.core`` sits
below this app)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.mail import mail_failed


@receiver(mail_failed)
def _mail_failed(
    sender: type, *, user_id: str | None, kind: str, attempts: int, error: str, **kwargs: Any
) -> None:
    audit_record(
        event=AuditEventType.MAIL_FAILED,
        user_id=user_id,
        data={"kind": kind, "attempts": attempts, "error": error},
    )
