"""Wrong second-factor codes per user, counted in the rate-limit cache, two ways:

- a rate (``IAM_THROTTLE_MFA_CODE``, 5/min, sliding window): an attempt is reserved before the
  code is checked (so a burst of parallel guesses cannot all slip through) and handed back when
  the code was right, so only wrong codes use up the allowance;
- consecutive failures, over windows and ``mfa_token``s: after ``IAM_MFA_FREE_FAILURES`` (10) in
  a row, each further wrong code delays the next attempt by 30 s, doubling up to
  ``IAM_MFA_MAX_DELAY`` (1 h). A right code ends the run. Someone with the password alone thus
  gets about 24 guesses a day instead of 7,200 (NIST SP 800-63B §5.2.2).
"""

from __future__ import annotations

import dataclasses
import uuid

from iam.core.conf import iam_settings
from iam.core.exceptions import Throttled
from iam.core.lockout import LockoutPolicy, delay_check, failure_run_record
from iam.core.ratelimit import ratelimit_cache as cache
from iam.core.throttles import LiveRateThrottle


class MfaCodeThrottle(LiveRateThrottle):
    """Wrong second-factor codes per user (``IAM_THROTTLE_MFA_CODE``); counted by the functions
    below, which hand right codes back."""

    scope = "mfa_code"


def mfa_attempt_reserve(*, user_id: uuid.UUID | str) -> str:
    """Count one attempt for the user; raises ``Throttled`` when the allowance is used up (the
    refused attempt is not counted). Returns a handle for ``mfa_attempt_release``."""
    key, wait = MfaCodeThrottle().take(f"iam:mfa-fail:{user_id}")
    if wait > 0:
        raise Throttled("Too many wrong codes; wait before trying again.", retry_after=wait + 1)
    return key


def mfa_attempt_release(handle: str) -> None:
    """The reserved attempt was a right code: it does not count."""
    cache.hand_back(handle)  # (a window that ended meanwhile is not re-created)


def _run_keys(user_id: uuid.UUID | str) -> tuple[str, str]:
    return f"iam:mfa-run:{user_id}:n", f"iam:mfa-run:{user_id}:until"


def mfa_delay_check(*, user_id: uuid.UUID | str) -> None:
    """Raise ``Throttled`` while a run of wrong codes delays the user's next attempt."""
    delay_check(
        [_run_keys(user_id)[1]], detail="Too many wrong codes in a row; wait before trying again."
    )


def mfa_failure_record(*, user_id: uuid.UUID | str) -> tuple[int, int]:
    """Count a wrong code in the user's run: ``(failures in a row, delay started in seconds)``."""
    count_key, until_key = _run_keys(user_id)
    policy = dataclasses.replace(LockoutPolicy.current(), max_delay=iam_settings.mfa_max_delay)
    return failure_run_record(
        count_key=count_key,
        until_key=until_key,
        free=iam_settings.mfa_free_failures,
        policy=policy,
    )


def mfa_failures_clear(*, user_id: uuid.UUID | str) -> None:
    """A right code (or an operator) ends the run."""
    cache.delete_many(list(_run_keys(user_id)))
