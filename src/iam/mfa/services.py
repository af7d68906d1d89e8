"""Two-factor decisions: authenticator setup and confirmation, second-factor checks, backup codes,
turning MFA off, operator resets, and the pending sign-ins (``mfa_token``) of the login flow.

A code is a TOTP code (6 digits) or a backup code; both are consumed atomically (compare-and-swap),
so of several concurrent uses of one code exactly one can win. Wrong codes are limited per user
(``iam.mfa.limits``) and per ``mfa_token``.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NoReturn

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from iam.accounts.mail import MailKind, security_notice_enqueue
from iam.accounts.models import User
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.conf import iam_settings
from iam.core.crypto import decrypt, encrypt, sha256_hex
from iam.core.exceptions import (
    InvalidCode,
    InvalidPassword,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaSetupRequired,
    MfaTokenInvalid,
    PasswordRequired,
    Throttled,
)
from iam.mfa.backup_codes import (
    COUNT,
    backup_code_digest,
    backup_code_matching,
    backup_code_new,
    backup_code_salt,
)
from iam.mfa.limits import (
    mfa_attempt_release,
    mfa_attempt_reserve,
    mfa_delay_check,
    mfa_failure_record,
    mfa_failures_clear,
)
from iam.mfa.models import BackupCode, MfaChallenge, TotpDevice
from iam.mfa.selectors import mfa_enabled, mfa_status
from iam.mfa.totp import looks_like_totp, totp_qr_svg, totp_secret_new, totp_step_matching, totp_uri
from iam.sessions.models import RevokeReason
from iam.sessions.services import ClientInfo, sessions_revoke_for_user

Method = Literal["totp", "backup_code"]


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class MfaChallengeStarted:
    """The password was right and a second factor is needed: no tokens yet."""

    mfa_token: str
    methods: list[str]


@dataclass(frozen=True, slots=True)
class MfaChallengePassed:
    user: User
    transport: str
    tenant_id: uuid.UUID | None
    tenant_refused: bool
    method: Method


def _audit(
    event: AuditEventType,
    *,
    user_id: uuid.UUID | str,
    client: ClientInfo,
    session_id: uuid.UUID | str | None = None,
    data: dict | None = None,
) -> None:
    audit_record(
        event=event,
        user_id=user_id,
        session_id=session_id,
        ip=client.ip,
        agent=client.user_agent,
        data=data,
    )


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


def _secret(device: TotpDevice) -> str:
    return decrypt(device.secret_encrypted).decode()


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


def _consume(*, user_id: uuid.UUID | str, code: str, now: datetime) -> Method | None:
    """Accept ``code`` once: a TOTP code of the confirmed device newer than the last accepted
    one, or an unused backup code. Returns the method, or None (wrong, replayed, lost race)."""
    if looks_like_totp(code):
        device = TotpDevice.objects.filter(user_id=user_id, confirmed_at__isnull=False).first()
        if device is None:
            return None
        step = totp_step_matching(
            secret=_secret(device), code=code, at=now, newer_than=device.last_used_step
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


def _code_rejected(
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
    _audit(
        AuditEventType.MFA_CODE_REJECTED,
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
        _code_rejected(user_id=user_id, client=client, session_id=session_id, purpose=purpose)
    mfa_attempt_release(handle)
    mfa_failures_clear(user_id=user_id)
    if method == "backup_code":
        remaining = BackupCode.objects.filter(user_id=user_id, used_at__isnull=True).count()
        _audit(
            AuditEventType.MFA_BACKUP_CODE_USED,
            user_id=user_id,
            client=client,
            session_id=session_id,
            data={"purpose": purpose, "remaining": remaining},
        )
    return method


# --- enrolment ------------------------------------------------------------------------------


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
        _audit(AuditEventType.MFA_SETUP_STARTED, user_id=user.pk, client=client)
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
                secret=_secret(device), code=code, at=now, newer_than=device.last_used_step
            )
            if step is not None:
                device.confirmed_at, device.last_used_step = now, step
                device.save(update_fields=["confirmed_at", "last_used_step"])
                codes = _backup_codes_replace(user_id=user.pk)
                _audit(
                    AuditEventType.MFA_ENABLED,
                    user_id=user.pk,
                    client=client,
                    session_id=session_id,
                    data={"method": "totp"},
                )
                security_notice_enqueue(kind=MailKind.MFA_ENABLED, user=user)
    except (MfaSetupRequired, MfaAlreadyEnabled):
        mfa_attempt_release(handle)
        raise
    if codes is None:
        _code_rejected(user_id=user.pk, client=client, session_id=session_id, purpose="enable")
    mfa_attempt_release(handle)
    mfa_failures_clear(user_id=user.pk)
    _revoke_other_sessions(user_id=user.pk, client=client, keep_session_id=session_id)
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
        _audit(AuditEventType.MFA_DISABLED, user_id=user.pk, client=client, session_id=session_id)
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
        _audit(
            AuditEventType.MFA_BACKUP_CODES_REGENERATED,
            user_id=user.pk,
            client=client,
            session_id=session_id,
        )
        security_notice_enqueue(kind=MailKind.BACKUP_CODES_REGENERATED, user=user)
    return codes


def user_lock(*, user_id: uuid.UUID | str) -> tuple[str, bool] | None:
    """Lock the user's row for the transaction: sign-ins and MFA changes of one user take turns,
    so a login cannot slip a password-only session past MFA being turned on. Always taken first
    (then challenges, backup codes, device), in one order everywhere. Returns the row's current
    ``(password, is_active)``, None if it is gone. Anything else a caller needs to be current
    once the lock is held is asked in a statement after this one: the subqueries of this one
    would see the statement's snapshot, which PostgreSQL takes before waiting for the lock."""
    return (
        User.objects.select_for_update()
        .filter(pk=user_id)
        .values_list("password", "is_active")
        .first()
    )


def _mfa_delete(*, user_id: uuid.UUID | str) -> bool:
    MfaChallenge.objects.filter(user_id=user_id).delete()
    BackupCode.objects.filter(user_id=user_id).delete()
    deleted, _ = TotpDevice.objects.filter(user_id=user_id).delete()
    return bool(deleted)


def mfa_reset(*, user: User, actor: str, client: ClientInfo | None = None) -> bool:
    """An operator turns a user's MFA off (lost authenticator and backup codes): audited with who
    did it; the user's sessions end (``IAM_MFA_REVOKE_OTHER_SESSIONS``). False if it was off."""
    client = client or ClientInfo(ip=None, user_agent="")
    with transaction.atomic():
        user_lock(user_id=user.pk)
        was_on = mfa_enabled(user_id=user.pk)
        _mfa_delete(user_id=user.pk)
        _audit(
            AuditEventType.MFA_RESET,
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


# --- the second step of a login ---------------------------------------------------------------


def _password_fingerprint(user: User) -> str:
    return sha256_hex(user.password)


def mfa_challenge_start(
    *,
    user: User,
    transport: str,
    tenant_id: uuid.UUID | None,
    client: ClientInfo,
    mfa_on: bool,
    tenant_refused: bool = False,
) -> MfaChallengeStarted | None:
    """After a right password: a pending sign-in for a user with MFA on, else None. ``mfa_on``
    is whether MFA is on, read after ``user_lock`` (``mfa_enabled_expression``). A tenant the
    user may not enter (``tenant_refused``) is refused only after the second factor, so the
    password alone does not reveal the account's tenants."""
    if not mfa_on:
        return None
    status = mfa_status(user_id=user.pk)  # the methods to offer
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    MfaChallenge.objects.filter(user_id=user.pk, expires_at__lt=now).delete()
    challenge = MfaChallenge.objects.create(
        digest=sha256_hex(token),
        user=user,
        transport=transport,
        tenant_id=tenant_id,
        tenant_refused=tenant_refused,
        password_fingerprint=_password_fingerprint(user),
        ip=client.ip,
        user_agent=client.user_agent,
        created_at=now,
        expires_at=now + iam_settings.mfa_token_ttl,
    )
    _audit(
        AuditEventType.LOGIN_MFA_REQUIRED,
        user_id=user.pk,
        client=client,
        data={"transport": transport, "challenge": str(challenge.pk)},
    )
    return MfaChallengeStarted(mfa_token=token, methods=status.methods)


def _challenge_dead(challenge: MfaChallenge | None, now: datetime) -> bool:
    return (
        challenge is None
        or challenge.used_at is not None
        or challenge.expires_at <= now
        or challenge.failed_attempts >= iam_settings.mfa_token_max_attempts
    )


def mfa_challenge_pass(*, mfa_token: str, code: str, client: ClientInfo) -> MfaChallengePassed:
    """Check the second factor of a pending sign-in. The token works once; a wrong code counts
    against it (it dies at ``IAM_MFA_TOKEN_MAX_ATTEMPTS``) and against the user's allowance. A
    password change, deactivation or MFA turned off since the password step voids it."""
    now = timezone.now()
    failure: Exception | None = None
    with transaction.atomic():
        challenge = (
            MfaChallenge.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(digest=sha256_hex(mfa_token))
            .first()
        )
        if _challenge_dead(challenge, now):
            raise MfaTokenInvalid()
        user = challenge.user
        if (
            not user.is_active
            or _password_fingerprint(user) != challenge.password_fingerprint
            or not mfa_enabled(user_id=user.pk)
        ):
            failure = MfaTokenInvalid()
            challenge.used_at = now
        else:
            try:
                method = mfa_code_verify(user_id=user.pk, code=code, client=client, purpose="login")
            except InvalidCode as exc:
                failure = exc
                challenge.failed_attempts += 1
                if challenge.failed_attempts >= iam_settings.mfa_token_max_attempts:
                    challenge.used_at = now
            except Throttled as exc:  # not a checked code: the token keeps its attempts
                failure = exc
            else:
                challenge.used_at = now
        challenge.save(update_fields=["used_at", "failed_attempts"])
    if failure is not None:
        raise failure
    return MfaChallengePassed(
        user=user,
        transport=challenge.transport,
        tenant_id=challenge.tenant_id,
        tenant_refused=challenge.tenant_refused,
        method=method,
    )


def mfa_challenges_cleanup(*, now: datetime | None = None) -> int:
    """Delete pending sign-ins that expired (they are refused anyway; this keeps the table
    small). Returns how many."""
    return MfaChallenge.objects.filter(expires_at__lt=now or timezone.now()).delete()[0]
