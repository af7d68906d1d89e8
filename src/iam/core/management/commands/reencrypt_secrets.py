from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from iam.core.crypto import DecryptionFailed, reencrypt
from iam.mfa.models import TotpDevice
from iam.tokens.models import SigningKey


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret kept at rest (signing keys' private halves, TOTP secrets) with "
        "the first key of IAM_KEY_ENCRYPTION_KEYS. Run it after prepending a new KEK; then the "
        "old KEK can be removed from the list. Safe to repeat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = {"signing keys": 0, "TOTP secrets": 0}
        try:
            with transaction.atomic():
                keys = SigningKey.objects.select_for_update().exclude(private_key_encrypted=b"")
                for key in keys:
                    key.private_key_encrypted = reencrypt(key.private_key_encrypted)
                    key.save(update_fields=["private_key_encrypted"])
                    counts["signing keys"] += 1
                for device in TotpDevice.objects.select_for_update():
                    device.secret_encrypted = reencrypt(device.secret_encrypted)
                    device.save(update_fields=["secret_encrypted"])
                    counts["TOTP secrets"] += 1
        except DecryptionFailed as exc:
            raise CommandError(
                "A secret could not be decrypted with any configured KEK; nothing was changed. "
                "Keep every KEK that was ever used in the list until this command succeeds."
            ) from exc
        self.stdout.write(", ".join(f"{n} {what}" for what, n in counts.items()) + " re-encrypted")
