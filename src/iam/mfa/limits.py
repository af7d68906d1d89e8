"""Wrong second-factor codes per user, counted in the shared cache (fixed windows).

An attempt is reserved before the code is checked (so a burst of parallel guesses cannot all
slip through) and handed back when the code was right: only wrong codes use up the allowance.
"""

from __future__ import annotations

import contextlib
import time
import uuid

from rest_framework.settings import api_settings

from iam.core.exceptions import Throttled
from iam.core.ratelimit import ratelimit_cache as cache

SCOPE = "mfa_code"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _rate() -> tuple[int, int]:
    """(attempts, seconds) from the DRF-style rate ``IAM_THROTTLE_MFA_CODE`` ("5/min")."""
    count, period = api_settings.DEFAULT_THROTTLE_RATES[SCOPE].split("/")
    return int(count), _PERIODS[period.strip()[0]]


def _key(user_id: uuid.UUID | str, window: int) -> str:
    return f"iam:mfa-fail:{user_id}:{window}"


def mfa_attempt_reserve(*, user_id: uuid.UUID | str) -> str:
    """Count one attempt for the user; raises ``Throttled`` when the window's allowance is used
    up. Returns a handle for ``mfa_attempt_release``."""
    limit, seconds = _rate()
    now = time.time()
    window = int(now // seconds)
    key = _key(user_id, window)
    cache.add(key, 0, timeout=seconds + 1)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=seconds + 1)
        used = 1
    if used > limit:
        raise Throttled(
            "Too many wrong codes; wait before trying again.",
            retry_after=int((window + 1) * seconds - now) + 1,
        )
    return key


def mfa_attempt_release(handle: str) -> None:
    """The reserved attempt was a right code: it does not count."""
    with contextlib.suppress(ValueError):  # the window ended meanwhile
        cache.decr(handle)
