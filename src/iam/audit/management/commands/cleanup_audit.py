from typing import Any

from django.core.management.base import BaseCommand

from iam.audit.services import audit_events_prune


class Command(BaseCommand):
    help = (
        "Delete audit events older than IAM_AUDIT_RETENTION (default a year; 0 keeps them all). "
        "Batched and idempotent: safe to run on a schedule."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = audit_events_prune()
        self.stdout.write(f"deleted {deleted} audit event(s)")
