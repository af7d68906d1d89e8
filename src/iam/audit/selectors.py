"""Reads of the audit trail."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from iam.audit.models import AuditEvent

# What a user may see of an event's payload in their own security log. Everything else (operator
# ids, mail errors, internal references) stays for operators.
USER_VISIBLE_DATA = frozenset(
    {
        "reason", "transport", "amr", "tenant", "scope", "delay", "failures", "purpose",
        "remaining", "mfa_method", "fields", "role", "previous", "method", "client_id",
        "provider",
    }
)  # fmt: skip


def security_log_for_user(*, user_id: uuid.UUID | str) -> QuerySet[AuditEvent]:
    """The user's own audit events, newest first."""
    return AuditEvent.objects.filter(user_id=user_id).only(
        "id", "type", "created_at", "ip", "user_agent", "session_id", "data"
    )


def user_visible_data(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key in USER_VISIBLE_DATA}
