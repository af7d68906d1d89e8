"""Checking a second-factor code: a TOTP code of the user's confirmed authenticator or an unused
backup code, consumed atomically (compare-and-swap), so of several concurrent uses of one code
exactly one can win. Wrong codes are limited per user (``iam.mfa.limits``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, NoReturn

from django.db.models import Q
from django.utils import timezone

from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.crypto import decrypt
from iam.core.exceptions import InvalidCode
from iam.core.http import ClientInfo
from iam.mfa.backup_codes import backup_code_matching
from iam.mfa.limits import (
    mfa_attempt_release,
    mfa_attempt_reserve,
    mfa_delay_check,
    mfa_failure_record,
    mfa_failures_clear,
)
from iam.mfa.models import BackupCode, TotpDevice
from iam.mfa.totp import looks_like_totp, totp_step_matching

Method = Literal["totp", "backup_code"]


def totp_secret(device: TotpDevice) -> str:
    return decrypt(device.secret_encrypted).decode()


def _consume(*, user_id: uuid.UUID | str, code: str, now: datetime) -> Method | None:
    """Accept ``code`` once: a TOTP code of the confirmed device newer than the last accepted
    one, or an unused backup code. Returns the method, or None (wrong, replayed, lost race)."""
    if looks_like_totp(code):
        device = TotpDevice.objects.filter(user_id=user_id, confirmed_at__isnull=False).first()
        if device is None:
            return None
        step = totp_step_matching(
            secret=totp_secret(device), code=code, at=now, newer_than=device.last_used_step
        )
        if step is None:
            return None
        won = (
            TotpDevice.objects.filter(pk=device.pk)
            .filter(Q(last_used_step__isnull=True) | Q(last_used_step__lt=step))
            .update(last_used_step=step)
        )
        return "totp" if won else None
    match = backup_code_matching(
        code, BackupCode.objects.filter(user_id=user_id, used_at__isnull=True)
    )
    if match is None:
        return None
    won = BackupCode.objects.filter(pk=match.pk, used_at__isnull=True).update(used_at=now)
    return "backup_code" if won else None


def code_rejected(
    *,
    user_id: uuid.UUID | str,
    client: ClientInfo,
    session_id: uuid.UUID | str | None,
    purpose: str,
) -> NoReturn:
    """A wrong code: counted in the user's run of failures, audited, ``InvalidCode``."""
    failures, delay = mfa_failure_record(user_id=user_id)
    data: dict[str, object] = {"purpose": purpose, "failures": failures}
    if delay:
        data["delay"] = delay
    audit_record(
        event=AuditEventType.MFA_CODE_REJECTED,
        user_id=user_id,
        client=client,
        session_id=session_id,
        data=data,
    )
    raise InvalidCode()


def mfa_code_verify(
    *,
    user_id: uuid.UUID | str,
    code: str,
    client: ClientInfo,
    session_id: uuid.UUID | str | None = None,
    purpose: str,
) -> Method:
    """Check and consume a second-factor code of a user with MFA on. Raises ``Throttled`` when
    the user has used up their wrong codes, ``InvalidCode`` for a wrong or replayed code.

    Writes its audit events itself; callers inside a transaction must not roll it back on the
    ``InvalidCode`` it raises (call it last, or catch and re-raise after the block)."""
    mfa_delay_check(user_id=user_id)
    handle = mfa_attempt_reserve(user_id=user_id)
    method = _consume(user_id=user_id, code=code, now=timezone.now())
    if method is None:
        code_rejected(user_id=user_id, client=client, session_id=session_id, purpose=purpose)
    mfa_attempt_release(handle)
    mfa_failures_clear(user_id=user_id)
    if method == "backup_code":
        remaining = BackupCode.objects.filter(user_id=user_id, used_at__isnull=True).count()
        audit_record(
            event=AuditEventType.MFA_BACKUP_CODE_USED,
            user_id=user_id,
            client=client,
            session_id=session_id,
            data={"purpose": purpose, "remaining": remaining},
        )
    return method
