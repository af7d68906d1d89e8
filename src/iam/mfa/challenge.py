"""The second step of a login: the pending sign-in (``mfa_token``) a right password opens for a
user with MFA on, and its check. A token works once; wrong codes count against it and against
the user's allowance (``iam.mfa.limits``)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from iam.accounts.models import User
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.conf import iam_settings
from iam.core.crypto import sha256_hex
from iam.core.exceptions import InvalidCode, MfaTokenInvalid, Throttled
from iam.core.http import ClientInfo
from iam.mfa.models import MfaChallenge
from iam.mfa.selectors import mfa_enabled, mfa_status
from iam.mfa.verification import Method, mfa_code_verify


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
    provider: str  # the identity provider of the first factor; "" for a password


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
    provider: str = "",
) -> MfaChallengeStarted | None:
    """After a right password (or a sign-in at the identity ``provider``): a pending sign-in
    for a user with MFA on, else None. ``mfa_on`` is whether MFA is on, read after
    ``user_lock`` (``mfa_enabled_expression``). A tenant the user may not enter
    (``tenant_refused``) is refused only after the second factor, so the first factor alone
    does not reveal the account's tenants."""
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
        provider=provider,
        password_fingerprint=_password_fingerprint(user),
        ip=client.ip,
        user_agent=client.user_agent,
        created_at=now,
        expires_at=now + iam_settings.mfa_token_ttl,
    )
    audit_record(
        event=AuditEventType.LOGIN_MFA_REQUIRED,
        user_id=user.pk,
        client=client,
        data={"transport": transport, "challenge": str(challenge.pk)}
        | ({"provider": provider} if provider else {}),
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
        provider=challenge.provider,
    )


def mfa_challenges_cleanup(*, now: datetime | None = None) -> int:
    """Delete pending sign-ins that expired (they are refused anyway; this keeps the table
    small). Returns how many."""
    return MfaChallenge.objects.filter(expires_at__lt=now or timezone.now()).delete()[0]
