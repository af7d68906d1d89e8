from __future__ import annotations

import getpass
import ipaddress
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.accounts.lockout import login_unlock
from iam.accounts.selectors import user_get_by_login


class Command(BaseCommand):
    help = (
        "End the progressive sign-in delays of an account (e-mail or username) and/or of a "
        "client IP (--ip). Audited as user:login:unlocked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", nargs="?", help="e-mail address or username")
        parser.add_argument("--ip", help="a client IP address whose delays end too")
        parser.add_argument("--operator", help="who asks (recorded); default: the OS user")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["user"] and not options["ip"]:
            raise CommandError("Give a user, --ip, or both.")
        user = None
        if options["user"]:
            user = user_get_by_login(identifier=options["user"])
            if user is None:
                raise CommandError("No such user.")
        ip = None
        if options["ip"]:
            try:
                ip = str(ipaddress.ip_address(options["ip"]))
            except ValueError as exc:
                raise CommandError("Not an IP address.") from exc
        login_unlock(actor=f"command:{options['operator'] or getpass.getuser()}", user=user, ip=ip)
        self.stdout.write("Unlocked: " + ", ".join(x for x in (user and user.email, ip) if x))
