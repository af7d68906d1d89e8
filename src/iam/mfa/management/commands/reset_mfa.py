from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.accounts.selectors import user_get_by_login
from iam.mfa.enrolment import mfa_reset


class Command(BaseCommand):
    help = (
        "Turn a user's two-factor authentication off (lost authenticator and backup codes). "
        "Audited as user:mfa:reset; the user's sessions end (IAM_MFA_REVOKE_OTHER_SESSIONS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="e-mail address or username")
        parser.add_argument("--operator", help="who asks (recorded); default: the OS user")

    def handle(self, *args: Any, **options: Any) -> None:
        user = user_get_by_login(identifier=options["user"])
        if user is None:
            raise CommandError("No such user.")
        operator = options["operator"] or getpass.getuser()
        was_on = mfa_reset(user=user, actor=f"command:{operator}")
        if was_on:
            self.stdout.write(f"Two-factor authentication is now off for {user.email}.")
        else:
            self.stdout.write(f"{user.email} had no two-factor authentication; nothing to reset.")
