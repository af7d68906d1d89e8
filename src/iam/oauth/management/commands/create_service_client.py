from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.oauth.models import ServiceClient
from iam.oauth.services import service_client_create, service_client_rotate_secret
from iam.tenancy.selectors import tenant_get_by_slug


class Command(BaseCommand):
    help = (
        "Create a service client (client-credentials grant) and print its secret once; "
        "or --rotate-secret CLIENT_ID."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?")
        parser.add_argument("--audience", action="append", default=[], help="repeatable")
        parser.add_argument("--scope", action="append", default=[], help="repeatable")
        parser.add_argument("--tenant", help="owner tenant slug (tokens carry tid/tenant)")
        parser.add_argument("--introspect", action="store_true", help="may introspect/revoke")
        parser.add_argument("--rotate-secret", metavar="CLIENT_ID")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rotate_secret"]:
            client = ServiceClient.objects.filter(client_id=options["rotate_secret"]).first()
            if client is None:
                raise CommandError("No such client.")
            secret = service_client_rotate_secret(client=client)
            self.stdout.write(f"client_id={client.client_id}\nclient_secret={secret}")
            return
        if not options["name"] or not options["audience"]:
            raise CommandError("Give a name and at least one --audience.")
        tenant = None
        if options["tenant"]:
            tenant = tenant_get_by_slug(slug=options["tenant"])
            if tenant is None:
                raise CommandError("No such tenant.")
        client, secret = service_client_create(
            name=options["name"],
            audiences=options["audience"],
            scopes=options["scope"],
            tenant=tenant,
            can_introspect=options["introspect"],
        )
        self.stdout.write(f"client_id={client.client_id}\nclient_secret={secret}")
        self.stderr.write("The secret is shown only now; store it in your secret manager.")
