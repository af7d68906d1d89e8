from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.core.settings_table import readme_table

BEGIN = "<!-- settings table: `manage.py settings_table --write` writes it -->"
END = "<!-- end of settings table -->"


def readme_with_table(text: str) -> str:
    """``text`` (the README) with the table between the markers written anew."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise CommandError("The README has no settings table markers.")
    return f"{head}{BEGIN}\n{readme_table()}{END}{tail}"


class Command(BaseCommand):
    help = (
        "Print the configuration table of every setting (iam.core.settings_table); with --write, "
        "put it into README.md between its markers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--write", action="store_true", help="update README.md in place")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["write"]:
            self.stdout.write(readme_table(), ending="")
            return
        readme = Path(settings.BASE_DIR) / "README.md"
        readme.write_text(readme_with_table(readme.read_text()))
        self.stdout.write(f"wrote the settings table into {readme}")
