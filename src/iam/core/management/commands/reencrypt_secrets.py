from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from iam.core.crypto import DecryptionFailed, reencrypt, secrets_at_rest


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret kept at rest (signing keys' private halves, TOTP secrets) with "
        "the first key of IAM_KEY_ENCRYPTION_KEYS. Run it after prepending a new KEK; then the "
        "old KEK can be removed from the list. Safe to repeat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = {column.label: 0 for column in secrets_at_rest}
        try:
            with transaction.atomic():
                for column in secrets_at_rest:
                    for row in column.rows().select_for_update():
                        setattr(row, column.field, reencrypt(getattr(row, column.field)))
                        row.save(update_fields=[column.field])
                        counts[column.label] += 1
        except DecryptionFailed as exc:
            raise CommandError(
                "A secret could not be decrypted with any configured KEK; nothing was changed. "
                "Keep every KEK that was ever used in the list until this command succeeds."
            ) from exc
        self.stdout.write(", ".join(f"{n} {what}" for what, n in counts.items()) + " re-encrypted")
