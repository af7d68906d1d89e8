from typing import Any

from django.core.management.base import BaseCommand

from iam.mfa.challenge import mfa_challenges_cleanup
from iam.sessions.services import sessions_cleanup


class Command(BaseCommand):
    help = (
        "Delete device sessions that were revoked or expired longer ago than "
        "IAM_SESSION_RETENTION, and expired MFA sign-in attempts. Idempotent and batched: safe "
        "to run on a schedule."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = sessions_cleanup()
        challenges = mfa_challenges_cleanup()
        self.stdout.write(
            f"deleted {deleted} ended session(s) and {challenges} expired MFA sign-in(s)"
        )
