from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from iam.tokens.models import SigningKey
from iam.tokens.services import RotationReport, signing_key_revoke, signing_keys_rotate


class Command(BaseCommand):
    help = (
        "Rotate the signing keys without downtime, both families (RS256 for access tokens, "
        "published; HS256 for refresh tokens, never published): promote the prepublished next "
        "key, retire the active one (still accepted until its tokens expire), make a new next "
        "key, and remove retired keys whose tokens have all expired. Creates the first keys on a "
        "new install."
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
            help="Emergency: stop accepting one key now (an HS256 key: every refresh token it "
            "signed). Write --revoke=KID (kids may start with -).",
        )
        parser.add_argument("--list", action="store_true", help="Only list the keys.")
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Only create the first keys of a family that has no active key (the one-shot "
            "step of a deploy: it never rotates keys that exist).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["revoke"]:
            signing_key_revoke(kid=options["revoke"])
            self.stdout.write(self.style.WARNING(f"revoked {options['revoke']}"))
        elif not options["list"]:
            families: list[str | None] = [None]
            if options["if_missing"]:
                active = SigningKey.objects.filter(state=SigningKey.State.ACTIVE)
                have = set(active.values_list("algorithm", flat=True))
                families = [a for a in SigningKey.Algorithm.values if a not in have]
            report = RotationReport()
            for family in families:
                step = signing_keys_rotate(force=options["force"], algorithm=family)
                for name in ("created", "retired", "activated", "removed", "waiting"):
                    getattr(report, name).extend(getattr(step, name))
            for kid in report.created:
                self.stdout.write(f"created  {kid}")
            for kid in report.retired:
                self.stdout.write(f"retired  {kid}")
            for kid in report.activated:
                self.stdout.write(self.style.SUCCESS(f"active   {kid}"))
            for kid in report.removed:
                self.stdout.write(f"removed  {kid}")
            for kid in report.waiting:
                self.stdout.write(
                    f"next key {kid} is still being prepublished; run again later or pass --force"
                )
        for key in SigningKey.objects.exclude(state=SigningKey.State.REMOVED):
            until = f" until {key.publish_until:%Y-%m-%d %H:%M}" if key.publish_until else ""
            created = f"{key.created_at:%Y-%m-%d %H:%M}"
            self.stdout.write(f"  {key.algorithm} {key.state:8} {key.kid} created {created}{until}")
