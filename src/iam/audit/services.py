"""The one function every security-relevant code path calls to leave an audit trail."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone

from iam.audit.events import AuditEventType
from iam.audit.models import AuditEvent
from iam.core.conf import iam_settings
from iam.core.http import NO_CLIENT, ClientInfo
from iam.core.metrics import metrics_audit_event

log = logging.getLogger("iam.audit")


def audit_event_type(event: AuditEventType | str) -> AuditEventType:
    """The event's member of ``AuditEventType``; ``ValueError`` for anything else. The column
    holds no choices (a new type needs no migration): this is where a type is checked."""
    try:
        return AuditEventType(event)
    except ValueError:
        raise ValueError(f"Unknown audit event type: {event!r}") from None


def audit_record(
    *,
    event: AuditEventType,
    client: ClientInfo = NO_CLIENT,
    user_id: uuid.UUID | str | None = None,
    session_id: uuid.UUID | str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event, with where the request came from (``client``; none for operators'
    commands and background work). ``data`` must never hold secrets (passwords, tokens, codes)."""
    row = audit_event_build(
        event=event, client=client, user_id=user_id, session_id=session_id, data=data
    )
    row.save(force_insert=True)
    audit_logged(audit_event_type(event), user_id=user_id, session_id=session_id, data=data)
    return row


def audit_event_build(
    *,
    event: AuditEventType,
    client: ClientInfo = NO_CLIENT,
    user_id: uuid.UUID | str | None = None,
    session_id: uuid.UUID | str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """The row ``audit_record`` writes, unsaved: for a caller that writes it in a statement of
    its own making (and then calls ``audit_logged``)."""
    event = audit_event_type(event)
    return AuditEvent(
        type=event,
        user_id=user_id,
        session_id=session_id,
        ip=client.ip,
        user_agent=(client.user_agent or "")[:512],
        data=data or {},
    )


def audit_logged(
    event: AuditEventType,
    *,
    user_id: object = None,
    session_id: object = None,
    data: dict[str, Any] | None = None,
) -> None:
    """The log line and metrics of an audit event; also for rows written in bulk SQL (the
    refresh fast path)."""
    metrics_audit_event(event.value, data)
    log.info(
        "audit %s",
        event.value,
        extra={"audit_type": event.value, "user_id": str(user_id), "session_id": str(session_id)},
    )


def audit_events_prune(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete audit events older than ``IAM_AUDIT_RETENTION`` (0: keep them all), in batches
    of ``batch_size`` by the ``created_at`` index, so that the table stays bounded and no
    statement holds locks on millions of rows. Returns how many were deleted."""
    retention = iam_settings.audit_retention
    if not retention:
        return 0
    cutoff = (now or timezone.now()) - retention
    deleted = 0
    while True:
        ids = list(
            AuditEvent.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += AuditEvent.objects.filter(pk__in=ids).delete()[0]
