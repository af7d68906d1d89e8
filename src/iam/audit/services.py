"""The one function every security-relevant code path calls to leave an audit trail."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.http import HttpRequest

from iam.audit.events import AuditEventType
from iam.audit.models import AuditEvent
from iam.core.http import client_ip, user_agent
from iam.core.metrics import metrics_audit_event

log = logging.getLogger("iam.audit")


def audit_record(
    *,
    event: AuditEventType,
    request: HttpRequest | None = None,
    user_id: uuid.UUID | str | None = None,
    session_id: uuid.UUID | str | None = None,
    ip: str | None = None,
    agent: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event. ``data`` must never hold secrets (passwords, tokens, codes)."""
    if request is not None:
        ip = ip if ip is not None else client_ip(request)
        agent = agent if agent is not None else user_agent(request)
    row = AuditEvent.objects.create(
        type=event,
        user_id=user_id,
        session_id=session_id,
        ip=ip,
        user_agent=(agent or "")[:512],
        data=data or {},
    )
    audit_logged(event, user_id=user_id, session_id=session_id, data=data)
    return row


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
