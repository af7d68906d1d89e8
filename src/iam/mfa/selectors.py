"""Reads about a user's second factors."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, QuerySet

from iam.mfa.models import BackupCode, TotpDevice


@dataclass(frozen=True, slots=True)
class MfaStatus:
    enabled: bool
    enabled_at: datetime | None
    setup_pending: bool
    backup_codes_remaining: int

    @property
    def methods(self) -> list[str]:
        if not self.enabled:
            return []
        return ["totp", "backup_code"] if self.backup_codes_remaining else ["totp"]


def _confirmed_devices(user_id: uuid.UUID | str) -> QuerySet[TotpDevice]:
    return TotpDevice.objects.filter(user_id=user_id, confirmed_at__isnull=False)


def mfa_enabled(*, user_id: uuid.UUID | str) -> bool:
    return _confirmed_devices(user_id).exists()


def mfa_enabled_expression(*, user_id: uuid.UUID | str) -> Exists:
    """``mfa_enabled`` as an expression, to ask in a query that is made anyway."""
    return Exists(_confirmed_devices(user_id))


def mfa_status(*, user_id: uuid.UUID | str) -> MfaStatus:
    device = TotpDevice.objects.filter(user_id=user_id).only("confirmed_at").first()
    enabled = device is not None and device.confirmed_at is not None
    remaining = (
        BackupCode.objects.filter(user_id=user_id, used_at__isnull=True).count() if enabled else 0
    )
    return MfaStatus(
        enabled=enabled,
        enabled_at=device.confirmed_at if device else None,
        setup_pending=device is not None and device.confirmed_at is None,
        backup_codes_remaining=remaining,
    )
