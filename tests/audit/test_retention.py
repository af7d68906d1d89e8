"""Audit events are kept for IAM_AUDIT_RETENTION, then deleted in batches (the table stays
bounded however long the service runs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from iam.audit.events import AuditEventType
from iam.audit.models import AuditEvent
from iam.audit.services import audit_events_prune, audit_record

pytestmark = pytest.mark.django_db


def _events(count: int, age: timedelta) -> None:
    for _ in range(count):
        audit_record(event=AuditEventType.LOGIN_FAILED)
    newest = AuditEvent.objects.order_by("-id")[:count]
    AuditEvent.objects.filter(pk__in=list(newest.values_list("pk", flat=True))).update(
        created_at=timezone.now() - age
    )


def test_old_events_go_in_batches_and_recent_ones_stay(settings):
    settings.IAM_AUDIT_RETENTION = 30 * 24 * 3600
    _events(7, timedelta(days=31))
    _events(3, timedelta(days=29))
    with CaptureQueriesContext(connection) as captured:
        assert audit_events_prune(batch_size=3) == 7
    deletes = [q for q in captured.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 3 + 3 + 1: no statement deletes more than a batch
    assert AuditEvent.objects.count() == 3
    assert audit_events_prune() == 0  # idempotent


def test_repeated_runs_keep_the_table_bounded(settings):
    settings.IAM_AUDIT_RETENTION = 24 * 3600
    sizes = []
    for _day in range(5):  # a day of events, then the daily job; the older days age out
        AuditEvent.objects.update(created_at=timezone.now() - timedelta(days=2))
        _events(4, timedelta(0))
        call_command("cleanup_audit", verbosity=0)
        sizes.append(AuditEvent.objects.count())
    assert sizes == [4, 4, 4, 4, 4]


def test_zero_keeps_everything(settings):
    settings.IAM_AUDIT_RETENTION = 0
    _events(2, timedelta(days=3650))
    assert audit_events_prune() == 0
    assert AuditEvent.objects.count() == 2
