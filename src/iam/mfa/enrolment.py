"""Turning MFA on and off: authenticator setup and confirmation, backup codes, turning it off,
operator resets. Every change is audited, the user is told by mail, and the user's other sessions
end (``IAM_MFA_REVOKE_OTHER_SESSIONS``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from iam.accounts.mail import MailKind, security_notice_enqueue
from iam.accounts.models import User
from iam.accounts.services import user_lock
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.conf import iam_settings
from iam.core.crypto import encrypt
from iam.core.exceptions import (
    InvalidPassword,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaSetupRequired,
    PasswordRequired,
    RevocationNotPropagated,
)
from iam.core.http import NO_CLIENT, ClientInfo
from iam.mfa.backup_codes import COUNT, backup_code_digest, backup_code_new, backup_code_salt
from iam.mfa.limits import (
    mfa_attempt_release,
    mfa_attempt_reserve,
    mfa_delay_check,
    mfa_failures_clear,
)
from iam.mfa.models import BackupCode, MfaChallenge, TotpDevice
from iam.mfa.selectors import mfa_enabled
from iam.mfa.totp import totp_qr_svg, totp_secret_new, totp_step_matching, totp_uri
from iam.mfa.verification import code_rejected, mfa_code_verify, totp_secret
from iam.sessions.models import RevokeReason
from iam.sessions.services import sessions_revoke_for_user


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _revoke_other_sessions(
    *, user_id: uuid.UUID | str, client: ClientInfo, keep_session_id: uuid.UUID | str | None
) -> int:
    if not iam_settings.mfa_revoke_other_sessions:
        return 0
    return sessions_revoke_for_user(
        user_id=user_id,
        reason=RevokeReason.MFA_CHANGED,
        client=client,
        keep_session_id=keep_session_id,
    )


def _backup_codes_replace(*, user_id: uuid.UUID | str) -> list[str]:
    """New backup codes; every earlier one (used or not) dies. Call inside a transaction."""
    BackupCode.objects.filter(user_id=user_id).delete()
    codes = [backup_code_new() for _ in range(COUNT)]
    rows = []
    for code in codes:
        salt = backup_code_salt()
        rows.append(BackupCode(user_id=user_id, salt=salt, digest=backup_code_digest(code, salt)))
    BackupCode.objects.bulk_create(rows)
    return codes


def totp_setup(
    *,
    user: User,
    client: ClientInfo,
    signed_in_at: datetime | None,
    password: str | None = None,
) -> TotpSetup:
    """Start (or restart) an authenticator setup: a new secret replaces an unconfirmed one and
    nothing is turned on yet. A session signed in longer ago than ``IAM_MFA_REAUTH_AGE`` must
    give the password (a stolen access token alone cannot bind an attacker's authenticator)."""
    if mfa_enabled(user_id=user.pk):
        raise MfaAlreadyEnabled()
    fresh = (
        signed_in_at is not None and timezone.now() - signed_in_at <= iam_settings.mfa_reauth_age
    )
    if not password and not fresh:
        raise PasswordRequired.on_field(
            "password", "You signed in a while ago: give your password to set up an authenticator."
        )
    if password and not user.check_password(password):
        raise InvalidPassword.on_field("password")
    secret = totp_secret_new()
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user_id=user.pk).first()
        if device is not None and device.confirmed_at is not None:
            raise MfaAlreadyEnabled()  # confirmed meanwhile
        if device is None:
            device = TotpDevice(user_id=user.pk)
        device.secret_encrypted = encrypt(secret.encode())
        device.confirmed_at = None
        device.last_used_step = None
        device.save()
        audit_record(event=AuditEventType.MFA_SETUP_STARTED, user_id=user.pk, client=client)
    uri = totp_uri(secret=secret, account=user.email, issuer=iam_settings.mfa_totp_issuer)
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=totp_qr_svg(uri))


def totp_enable(
    *, user: User, code: str, client: ClientInfo, session_id: uuid.UUID | str | None
) -> list[str]:
    """Confirm the pending authenticator with a code from it: MFA is on, ten backup codes are
    made (returned once), and the user's other sessions end (``IAM_MFA_REVOKE_OTHER_SESSIONS``)."""
    mfa_delay_check(user_id=user.pk)
    handle = mfa_attempt_reserve(user_id=user.pk)
    now = timezone.now()
    codes: list[str] | None = None
    try:
        with transaction.atomic():
            user_lock(user_id=user.pk)
            device = TotpDevice.objects.select_for_update().filter(user_id=user.pk).first()
            if device is None:
                raise MfaSetupRequired()
            if device.confirmed_at is not None:
                raise MfaAlreadyEnabled()
            step = totp_step_matching(
                secret=totp_secret(device), code=code, at=now, newer_than=device.last_used_step
            )
            if step is not None:
                device.confirmed_at, device.last_used_step = now, step
                device.save(update_fields=["confirmed_at", "last_used_step"])
                codes = _backup_codes_replace(user_id=user.pk)
                audit_record(
                    event=AuditEventType.MFA_ENABLED,
                    user_id=user.pk,
                    client=client,
                    session_id=session_id,
                    data={"method": "totp"},
                )
                # In this transaction, unlike other revocations: the backup codes exist only in
                # this answer, so if Redis cannot be told, nothing happens (MFA stays off, the
                # code stays unused, no notice) and the 503 asks for a repeat.
                _revoke_other_sessions(user_id=user.pk, client=client, keep_session_id=session_id)
                security_notice_enqueue(kind=MailKind.MFA_ENABLED, user=user)
    except (MfaSetupRequired, MfaAlreadyEnabled):
        mfa_attempt_release(handle)
        raise
    except RevocationNotPropagated as exc:
        mfa_attempt_release(handle)
        raise RevocationNotPropagated(
            "Two-factor authentication was not turned on: your other sessions could not be "
            "ended everywhere at once. Nothing changed; repeat the request."
        ) from exc
    if codes is None:
        code_rejected(user_id=user.pk, client=client, session_id=session_id, purpose="enable")
    mfa_attempt_release(handle)
    mfa_failures_clear(user_id=user.pk)
    return codes


def totp_disable(
    *,
    user: User,
    password: str,
    code: str,
    client: ClientInfo,
    session_id: uuid.UUID | str | None,
) -> None:
    """Turn MFA off: needs the password and a fresh second factor (TOTP or backup code)."""
    if not mfa_enabled(user_id=user.pk):
        raise MfaNotEnabled()
    if not user.check_password(password):
        raise InvalidPassword.on_field("password")
    mfa_code_verify(
        user_id=user.pk, code=code, client=client, session_id=session_id, purpose="disable"
    )
    with transaction.atomic():
        user_lock(user_id=user.pk)
        _mfa_delete(user_id=user.pk)
        audit_record(
            event=AuditEventType.MFA_DISABLED, user_id=user.pk, client=client, session_id=session_id
        )
        security_notice_enqueue(kind=MailKind.MFA_DISABLED, user=user)
    _revoke_other_sessions(user_id=user.pk, client=client, keep_session_id=session_id)


def backup_codes_regenerate(
    *, user: User, code: str, client: ClientInfo, session_id: uuid.UUID | str | None
) -> list[str]:
    """Ten new backup codes for a fresh second factor; every earlier code dies."""
    if not mfa_enabled(user_id=user.pk):
        raise MfaNotEnabled()
    mfa_code_verify(
        user_id=user.pk,
        code=code,
        client=client,
        session_id=session_id,
        purpose="regenerate_backup_codes",
    )
    with transaction.atomic():
        codes = _backup_codes_replace(user_id=user.pk)
        audit_record(
            event=AuditEventType.MFA_BACKUP_CODES_REGENERATED,
            user_id=user.pk,
            client=client,
            session_id=session_id,
        )
        security_notice_enqueue(kind=MailKind.BACKUP_CODES_REGENERATED, user=user)
    return codes


def _mfa_delete(*, user_id: uuid.UUID | str) -> bool:
    MfaChallenge.objects.filter(user_id=user_id).delete()
    BackupCode.objects.filter(user_id=user_id).delete()
    deleted, _ = TotpDevice.objects.filter(user_id=user_id).delete()
    return bool(deleted)


def mfa_reset(*, user: User, actor: str, client: ClientInfo = NO_CLIENT) -> bool:
    """An operator turns a user's MFA off (lost authenticator and backup codes): audited with who
    did it; the user's sessions end (``IAM_MFA_REVOKE_OTHER_SESSIONS``). False if it was off."""
    with transaction.atomic():
        user_lock(user_id=user.pk)
        was_on = mfa_enabled(user_id=user.pk)
        _mfa_delete(user_id=user.pk)
        audit_record(
            event=AuditEventType.MFA_RESET,
            user_id=user.pk,
            client=client,
            data={"by": actor, "was_enabled": was_on},
        )
        if was_on:
            security_notice_enqueue(kind=MailKind.MFA_RESET, user=user)
    mfa_failures_clear(user_id=user.pk)
    if was_on:
        _revoke_other_sessions(user_id=user.pk, client=client, keep_session_id=None)
    return was_on


def mfa_forget(*, user_id: uuid.UUID | str) -> None:
    """Drop every second factor of an account that is being deleted."""
    _mfa_delete(user_id=user_id)
