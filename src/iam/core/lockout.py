"""Runs of failures and the delays they earn, counted in the rate-limit cache: the arithmetic
behind the sign-in delays (``iam.accounts.lockout``) and the wrong-code delays (``iam.mfa.limits``).

After ``free`` failures in a run, each further one starts a delay of ``base_delay`` seconds,
doubling with every failure, capped at ``max_delay``; a run is forgotten ``window`` seconds after
its *last* failure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from iam.core.conf import iam_settings
from iam.core.exceptions import Throttled
from iam.core.ratelimit import ratelimit_cache as cache


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
            free_attempts=iam_settings.lockout_free_attempts,
            ip_free_attempts=iam_settings.lockout_ip_free_attempts,
            base_delay=iam_settings.lockout_base_delay,
            max_delay=iam_settings.lockout_max_delay,
            window=iam_settings.lockout_window,
        )

    def delay_after(self, failures: int, *, free: int) -> int:
        """Seconds of lock after the ``failures``-th failure (0 while within the free ones)."""
        excess = failures - free
        if excess <= 0:
            return 0
        return min(self.max_delay, self.base_delay * 2 ** min(excess - 1, 30))


def remaining_seconds(found: dict, key: str) -> float:
    value = found.get(key)
    return float(value) - time.time() if value is not None else 0.0


def delay_check(until_keys: list[str], *, detail: str) -> None:
    """Raise ``Throttled`` while any of the delays stored under ``until_keys`` runs."""
    found = cache.get_many(until_keys)
    remaining = max((remaining_seconds(found, key) for key in until_keys), default=0.0)
    if remaining > 0:
        raise Throttled(detail, retry_after=int(remaining) + 1)


@dataclass(frozen=True, slots=True)
class FailureRun:
    """A run of failures: its counter, where its delay is kept, and how many failures are free."""

    count_key: str
    until_key: str
    free: int


def failure_runs_record(
    runs: Sequence[FailureRun], *, policy: LockoutPolicy
) -> list[tuple[int, int]]:
    """Count one failure in each of ``runs`` (each forgotten ``policy.window`` after its *last*
    failure; all in one round trip) and start the delays they earn: ``(failures in the run,
    delay in seconds, 0 for none)`` of each."""
    counts = cache.count_runs([run.count_key for run in runs], policy.window)
    recorded = []
    for run, failures in zip(runs, counts, strict=True):
        delay = policy.delay_after(failures, free=run.free)
        if delay:
            cache.set(run.until_key, time.time() + delay, delay)
        recorded.append((failures, delay))
    return recorded


def failure_run_record(
    *, count_key: str, until_key: str, free: int, policy: LockoutPolicy
) -> tuple[int, int]:
    """``failure_runs_record`` of one run."""
    return failure_runs_record([FailureRun(count_key, until_key, free)], policy=policy)[0]
