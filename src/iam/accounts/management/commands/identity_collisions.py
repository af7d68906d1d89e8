from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from iam.accounts.models import User
from iam.core.identifiers import key_collisions

COLUMNS = ("id", "email", "username", "email_verified", "is_active", "created_at", "last_login")


class Command(BaseCommand):
    help = (
        "List the accounts whose e-mail addresses or usernames differ only in spelling (letter "
        "case, compatibility forms: iam.core.identifiers) and so name one account. Reads the "
        "addresses themselves, so it also works before the migration that refuses them "
        "(iam_accounts 0003). Exit status 1 when there are any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=5000, help="rows read per query (default 5000)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        size = options["batch_size"]
        groups = []
        for what, field in (("e-mail address", "email"), ("username", "username")):
            rows = User.objects.values_list("id", field).iterator(chunk_size=size)
            groups += [(what, ids) for ids in key_collisions((pk, text or "") for pk, text in rows)]
        for what, ids in groups:
            self.stdout.write(f"Same {what}:")
            for row in User.objects.filter(pk__in=ids).order_by("created_at").values_list(*COLUMNS):
                pk, email, username, verified, active, created, last_login = row
                seen = f"{last_login:%Y-%m-%d}" if last_login else "never"
                self.stdout.write(
                    f"  {pk}  {email}  username={username or '-'}  verified={verified}  "
                    f"active={active}  created={created:%Y-%m-%d}  last_login={seen}"
                )
        if groups:
            self.stderr.write(
                f"{len(groups)} group(s): keep one account of each and change or clear the "
                "others' address or username (docs/operations.md)."
            )
            raise SystemExit(1)
        self.stdout.write("No accounts collide.")
