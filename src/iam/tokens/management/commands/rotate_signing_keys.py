from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from iam.tokens.models import SigningKey
from iam.tokens.services import signing_key_revoke, signing_keys_rotate


class Command(BaseCommand):
    help = (
        "Rotate the RS256 signing keys without downtime: promote the prepublished next key, retire "
        "the active one (still published until its tokens expire), publish a new next key, and "
        "remove retired keys whose tokens have all expired. Creates the first key on a new install."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Promote now even if the next key was published only recently.",
        )
        parser.add_argument(
            "--revoke",
            metavar="KID",
            help="Emergency: unpublish one key now. Write --revoke=KID (kids may start with -).",
        )
        parser.add_argument("--list", action="store_true", help="Only list the keys.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["revoke"]:
            signing_key_revoke(kid=options["revoke"])
            self.stdout.write(self.style.WARNING(f"revoked {options['revoke']}"))
        elif not options["list"]:
            report = signing_keys_rotate(force=options["force"])
            for kid in report.created:
                self.stdout.write(f"created  {kid}")
            if report.retired:
                self.stdout.write(f"retired  {report.retired}")
            if report.activated:
                self.stdout.write(self.style.SUCCESS(f"active   {report.activated}"))
            for kid in report.removed:
                self.stdout.write(f"removed  {kid}")
            if report.waiting:
                self.stdout.write(
                    f"next key {report.waiting} is still being prepublished; "
                    "run again later or pass --force"
                )
        for key in SigningKey.objects.exclude(state=SigningKey.State.REMOVED):
            until = f" until {key.publish_until:%Y-%m-%d %H:%M}" if key.publish_until else ""
            self.stdout.write(
                f"  {key.state:8} {key.kid} created {key.created_at:%Y-%m-%d %H:%M}{until}"
            )
