"""Progressive sign-in delays against password guessing, per account and per client IP.

Each wrong password (or unknown account) counts against the account the identifier names and
against the client IP. The first ``IAM_LOCKOUT_FREE_ATTEMPTS`` (per IP:
``IAM_LOCKOUT_IP_FREE_ATTEMPTS``) cost nothing; each further failure locks sign-in for
``IAM_LOCKOUT_BASE_DELAY`` seconds, doubling with every failure, capped at
``IAM_LOCKOUT_MAX_DELAY``. A lock is a delay, not a ban: it ends on its own, so an attacker cannot
lock a victim out for longer than the cap at a time, and the owner can always end it with a
password reset (operators with ``manage.py unlock_login``).

Counters are forgotten ``IAM_LOCKOUT_WINDOW`` after the last failure. A successful sign-in resets
nothing (an attacker's own account must not wash an IP's counter), and identifiers count by the
account they resolve to (letter case, e-mail vs username share one counter) or, for no account,
by their case-folded text, so a lock looks the same for existing and unknown accounts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from iam.core.conf import iam_settings
from iam.core.crypto import sha256_hex
from iam.core.exceptions import Throttled
from iam.core.http import ip_bucket
from iam.core.ratelimit import ratelimit_cache as cache


def login_account_key(user: object | None, identifier: str) -> str:
    """What per-account limits count by: the account the identifier resolves to, so e-mail vs
    username or letter case share it; identifiers of no account by their case-folded text."""
    if user is not None:
        return user_account_key(user.pk)
    return f"id:{sha256_hex(canonical_identifier(identifier))}"


def canonical_identifier(identifier: str) -> str:
    """One spelling per identifier as the database compares them (``UPPER()``): dotless and
    dotted i, sharp s and ss, letter case all count as one."""
    return identifier.strip().upper().casefold()


def user_account_key(user_id: object) -> str:
    return f"user:{user_id}"


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    free_attempts: int
    ip_free_attempts: int
    base_delay: int
    max_delay: int
    window: int

    @classmethod
    def current(cls) -> LockoutPolicy:
        return cls(
            free_attempts=settings.IAM_LOCKOUT_FREE_ATTEMPTS,
            ip_free_attempts=settings.IAM_LOCKOUT_IP_FREE_ATTEMPTS,
            base_delay=settings.IAM_LOCKOUT_BASE_DELAY,
            max_delay=settings.IAM_LOCKOUT_MAX_DELAY,
            window=settings.IAM_LOCKOUT_WINDOW,
        )

    def delay_after(self, failures: int, *, free: int) -> int:
        """Seconds of lock after the ``failures``-th failure (0 while within the free ones)."""
        excess = failures - free
        if excess <= 0:
            return 0
        return min(self.max_delay, self.base_delay * 2 ** min(excess - 1, 30))


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


def _remaining(found: dict, key: str) -> float:
    value = found.get(key)
    return float(value) - time.time() if value is not None else 0.0


def delay_check(until_keys: list[str], *, detail: str) -> None:
    """Raise ``Throttled`` while any of the delays stored under ``until_keys`` runs."""
    found = cache.get_many(until_keys)
    remaining = max((_remaining(found, key) for key in until_keys), default=0.0)
    if remaining > 0:
        raise Throttled(detail, retry_after=int(remaining) + 1)


def failure_run_record(
    *, count_key: str, until_key: str, free: int, policy: LockoutPolicy
) -> tuple[int, int]:
    """Count one failure in a run (forgotten ``policy.window`` after the *last* failure) and
    start the delay it earns: ``(failures in the run, delay in seconds, 0 for none)``."""
    cache.add(count_key, 0, policy.window)
    try:
        failures = cache.incr(count_key)
    except ValueError:  # expired in between
        cache.set(count_key, 1, policy.window)
        failures = 1
    cache.touch(count_key, policy.window)
    delay = policy.delay_after(failures, free=free)
    if delay:
        cache.set(until_key, time.time() + delay, delay)
    return failures, delay


def login_lockout_check(*, account_key: str, ip: str | None, user_id: object | None = None) -> None:
    """Raise ``Throttled`` while the account or the IP is locked (before any password hash).

    An account's lock does not apply from an address the account itself signed in from (or
    refreshed a session from) within ``IAM_SESSION_RETENTION``: someone guessing from elsewhere
    cannot lock the owner out of their usual places. The per-IP lock applies everywhere."""
    account_until = _keys("account", account_key)[1]
    ip_until = _keys("ip", ip_bucket(ip))[1] if ip else None
    found = cache.get_many([k for k in (account_until, ip_until) if k])
    remaining = _remaining(found, ip_until) if ip_until else 0.0
    account_remaining = _remaining(found, account_until)
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
    from iam.sessions.models import DeviceSession  # a model: not at import (app loading)

    since = timezone.now() - iam_settings.session_retention
    return DeviceSession.objects.filter(user_id=user_id, ip=ip, last_used_at__gte=since).exists()


def login_failure_record(*, account_key: str, ip: str | None) -> list[LockStarted]:
    """Count a failed sign-in; the locks it starts (for the audit trail)."""
    policy = LockoutPolicy.current()
    started = []
    for scope, ident in _scopes(account_key, ip):
        count_key, until_key = _keys(scope, ident)
        free = policy.free_attempts if scope == "account" else policy.ip_free_attempts
        failures, delay = failure_run_record(
            count_key=count_key, until_key=until_key, free=free, policy=policy
        )
        if delay:
            started.append(LockStarted(scope=scope, failures=failures, delay=delay))
    return started


def login_lockout_clear(*, account_key: str | None = None, ip: str | None = None) -> None:
    """Forget the failures and lock of an account and/or an IP (password reset, operators)."""
    keys: list[str] = []
    if account_key:
        keys.extend(_keys("account", account_key))
    if ip:
        keys.extend(_keys("ip", ip_bucket(ip)))
    if keys:
        cache.delete_many(keys)
