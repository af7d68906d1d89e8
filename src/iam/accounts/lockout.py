"""Progressive sign-in delays against password guessing, per account and per client IP.

Each wrong password (or unknown account) counts against the account the identifier names and
against the client IP. The first ``IAM_LOCKOUT_FREE_ATTEMPTS`` (per IP:
``IAM_LOCKOUT_IP_FREE_ATTEMPTS``) cost nothing; each further failure locks sign-in for
``IAM_LOCKOUT_BASE_DELAY`` seconds, doubling with every failure, capped at
``IAM_LOCKOUT_MAX_DELAY`` (the arithmetic: ``iam.core.lockout``). A lock is a delay, not a ban:
it ends on its own, so an attacker cannot lock a victim out for longer than the cap at a time,
and the owner can always end it with a password reset (operators with ``manage.py
unlock_login``).

Counters are forgotten ``IAM_LOCKOUT_WINDOW`` after the last failure. A successful sign-in resets
nothing (an attacker's own account must not wash an IP's counter), and identifiers count by the
account they resolve to (any spelling, e-mail vs username share one counter) or, for no account,
by their comparison key, so a lock looks the same for existing and unknown accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.conf import iam_settings
from iam.core.exceptions import Throttled
from iam.core.http import NO_CLIENT, ClientInfo, ip_bucket
from iam.core.identifiers import identifier_key
from iam.core.lockout import FailureRun, LockoutPolicy, failure_runs_record, remaining_seconds
from iam.core.ratelimit import ReadAhead
from iam.core.ratelimit import ratelimit_cache as cache
from iam.sessions.models import DeviceSession


def login_account_key(user: object | None, identifier: str) -> str:
    """What per-account limits count by: the account the identifier resolves to, so e-mail vs
    username or any spelling of either share it; identifiers of no account by their key
    (``iam.core.identifiers``: the spellings that would name one account count as one)."""
    if user is not None:
        return user_account_key(user.pk)
    return f"id:{identifier_key(identifier)}"


def user_account_key(user_id: object) -> str:
    return f"user:{user_id}"


@dataclass(frozen=True, slots=True)
class LockStarted:
    scope: str  # "account" or "ip"
    failures: int
    delay: int


def _keys(scope: str, ident: str) -> tuple[str, str]:
    return f"iam:lockout:{scope}:{ident}:n", f"iam:lockout:{scope}:{ident}:until"


def _scopes(account_key: str, ip: str | None) -> list[tuple[str, str]]:
    scopes = [("account", account_key)]
    if ip:
        scopes.append(("ip", ip_bucket(ip)))
    return scopes


def login_lockout_keys(*, account_key: str, ip: str | None) -> list[str]:
    """The keys ``login_lockout_check`` reads (a view reads them ahead with its limits)."""
    keys = [_keys("account", account_key)[1]]
    if ip:
        keys.append(_keys("ip", ip_bucket(ip))[1])
    return keys


def login_lockout_check(
    *,
    account_key: str,
    ip: str | None,
    user_id: object | None = None,
    read_ahead: ReadAhead | None = None,
) -> None:
    """Raise ``Throttled`` while the account or the IP is locked (before any password hash).

    An account's lock does not apply from an address the account itself signed in from (or
    refreshed a session from) within ``IAM_SESSION_RETENTION``: someone guessing from elsewhere
    cannot lock the owner out of their usual places. The per-IP lock applies everywhere.

    ``read_ahead``: the lock states as the request's limits read them moments ago (its keys
    must be ``login_lockout_keys``; for other keys the cache is asked)."""
    keys = login_lockout_keys(account_key=account_key, ip=ip)
    found = (read_ahead or cache).get_many(keys)
    account_until, ip_until = keys[0], keys[1] if ip else None
    remaining = remaining_seconds(found, ip_until) if ip_until else 0.0
    account_remaining = remaining_seconds(found, account_until)
    if account_remaining > remaining and not (
        user_id is not None and ip and _known_address(user_id, ip)
    ):
        remaining = account_remaining
    if remaining > 0:
        raise Throttled(
            "Too many failed sign-ins; wait before trying again, or reset your password.",
            retry_after=int(remaining) + 1,
        )


def _known_address(user_id: object, ip: str) -> bool:
    """The account signed in or refreshed from ``ip`` within ``IAM_SESSION_RETENTION``."""
    since = timezone.now() - iam_settings.session_retention
    return DeviceSession.objects.filter(user_id=user_id, ip=ip, last_used_at__gte=since).exists()


def login_failure_record(*, account_key: str, ip: str | None) -> list[LockStarted]:
    """Count a failed sign-in; the locks it starts (for the audit trail)."""
    policy = LockoutPolicy.current()
    scopes = _scopes(account_key, ip)
    runs = [
        FailureRun(
            *_keys(scope, ident),
            free=policy.free_attempts if scope == "account" else policy.ip_free_attempts,
        )
        for scope, ident in scopes
    ]
    recorded = failure_runs_record(runs, policy=policy)
    return [
        LockStarted(scope=scope, failures=failures, delay=delay)
        for (scope, _), (failures, delay) in zip(scopes, recorded, strict=True)
        if delay
    ]


def login_lockout_clear(*, account_key: str | None = None, ip: str | None = None) -> None:
    """Forget the failures and lock of an account and/or an IP (password reset, operators)."""
    keys: list[str] = []
    if account_key:
        keys.extend(_keys("account", account_key))
    if ip:
        keys.extend(_keys("ip", ip_bucket(ip)))
    if keys:
        cache.delete_many(keys)


def login_unlock(
    *,
    actor: str,
    user: AbstractBaseUser | None = None,
    ip: str | None = None,
    client: ClientInfo = NO_CLIENT,
) -> None:
    """End the sign-in delays of an account and/or a client IP (audited with who did it)."""
    login_lockout_clear(account_key=user_account_key(user.pk) if user else None, ip=ip)
    audit_record(
        event=AuditEventType.LOGIN_UNLOCKED,
        client=client,
        user_id=user.pk if user else None,
        data={"by": actor, "account": bool(user), "unlocked_ip": ip},
    )
