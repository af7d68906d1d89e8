from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.accounts.selectors import user_get_by_email
from iam.tenancy.services import tenant_create


class Command(BaseCommand):
    # here, not in iam.tenancy: it finds the owner by address, and accounts sit above tenancy
    help = "Create a tenant with an existing user as its first owner."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", required=True, help="the owner's e-mail address")
        parser.add_argument("--domain", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        owner = user_get_by_email(email=options["owner"])
        if owner is None:
            raise CommandError("No account has that e-mail address.")
        try:
            tenant = tenant_create(
                name=options["name"], slug=options["slug"], owner=owner, domain=options["domain"]
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.pk}) owned by {owner.email}")
