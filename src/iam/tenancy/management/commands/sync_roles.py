from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from iam.tenancy.models import Role
from iam.tenancy.roles import DEFAULT_ROLES


class Command(BaseCommand):
    help = (
        "Create the default roles that are missing (owner, admin, member, viewer). "
        "Operators' edits are kept unless --reset is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="also put the default roles back as shipped"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name, definition in DEFAULT_ROLES.items():
            values = {
                "label": definition["label"],
                "rank": definition["rank"],
                "permissions": sorted(definition["permissions"]),
            }
            if options["reset"]:
                _, created = Role.objects.update_or_create(name=name, defaults=values)
            else:
                _, created = Role.objects.get_or_create(name=name, defaults=values)
            self.stdout.write(f"{name}: {'created' if created else 'kept'}")
