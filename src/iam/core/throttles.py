"""Rate limits: DRF throttles counting in the rate-limit cache (``iam.core.ratelimit``: per
process while Redis is unreachable) with a sliding-window counter. Every limit answers
``429 throttled`` with ``Retry-After``. Throttles run before the view, so a limit is checked before
any password hash is computed.

The generic limits live here (every anonymous request, every signed-in user, current-password
checks); each app keeps the limits of its own endpoints next to them (``iam.accounts.throttles``,
``iam.authn.throttles``, ``iam.mfa.limits``, ``iam.oauth.apis``).
"""

from __future__ import annotations

import threading
from typing import Any

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from iam.core.http import client_ip, ip_bucket
from iam.core.ratelimit import WindowTake, ratelimit_cache, window_fits


class LiveRateThrottle(SimpleRateThrottle):
    """A DRF throttle that reads its rate from settings at use (DRF freezes THROTTLE_RATES at
    import) and counts in the rate-limit cache with a sliding-window counter: a counter per
    window, atomically incremented (a burst of parallel requests cannot all pass, which DRF's
    own read-decide-write of a timestamp list allows), plus the previous window's count weighted
    by how much of it still lies within the last ``duration`` seconds. Constant cost at any rate,
    one round trip on Redis, and no doubled burst at a window's edge."""

    cache = ratelimit_cache  # type: ignore[assignment]  # the cache API the throttles use
    # True: the limit never counts a safe method (GET, HEAD, OPTIONS), so a view need not build
    # it for one (``FirstRefusalThrottling.get_throttles``)
    safe_methods_exempt = False
    # set from the rate by SimpleRateThrottle.__init__
    num_requests: int
    duration: int

    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope) if self.scope else None

    def get_ident(self, request: Request) -> str:
        """Per-IP limits count the client IP, an IPv6 client by its /64 (never DRF's raw
        ``X-Forwarded-For``)."""
        return ip_bucket(client_ip(request))

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        _, self._wait = self.take(self.key)
        return self._wait <= 0

    def take(self, ident: str) -> tuple[str, float]:
        """Count one request for ``ident``: ``(the window's counter key, seconds to wait; 0 when
        the request fits)``. A refused request is not counted."""
        key, previous, into = self._window(ident)
        position, before = _counted(key, previous, self.num_requests, self.duration)
        wait = self.wait_at(position, before, into)
        if wait > 0:
            _uncount(key, position, self.num_requests)
        return key, wait

    def _window(self, ident: str) -> tuple[str, str, float]:
        """``(this window's counter key, the previous window's, seconds into this window)``."""
        window, into = divmod(self.timer(), self.duration)
        window = int(window)
        return f"{ident}:{window}", f"{ident}:{window - 1}", into

    def wait_at(self, position: int, before: int, into: float) -> float:
        """Seconds until the request at ``position`` fits (0: now); ``sliding_wait``."""
        return sliding_wait(
            limit=self.num_requests,
            position=position,
            before=before,
            into=into,
            duration=self.duration,
        )

    def counted_exactly(self) -> bool:
        """This limit is counted one request at a time in the shared cache (small limits), not
        in leases: ``planned_take`` and ``take_in_order`` can count it with others at once."""
        return self.rate is not None and self.num_requests // LEASE_FRACTION <= 1

    def planned_take(self, request: Request, view: Any) -> WindowTake | None:
        """This limit's take for ``request`` (None: the request is not limited here), for
        ``RateLimitCache.take_in_order``; ``refused_at`` says the wait if it refuses."""
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return None
        key, previous, self._into = self._window(self.key)
        return WindowTake(
            key=key,
            previous=previous,
            ttl=2 * self.duration + 1,
            limit=self.num_requests,
            weight=1 - self._into / self.duration,
        )

    def refused_at(self, position: int, before: int) -> float:
        """The wait (``wait()``) of the planned take, refused at ``position``."""
        self._wait = self.wait_at(position, before, self._into)
        return self.wait()

    def wait(self) -> float:
        return max(1.0, self._wait)


# Generous limits (200 per period and up) are counted in leases: a process reserves a block of
# 1 % of the limit in one round trip and hands it out locally, so the per-user limit costs one
# Redis call per 10 requests instead of one per request. A process's unused block still counts,
# so a client spread over N processes may be refused up to N blocks early (about N % of the
# limit), never late. Small limits (login, refresh, mail, anonymous) are counted one by one,
# exactly, all of a request's in one round trip (``iam.core.apis.FirstRefusalThrottling``).
LEASE_FRACTION = 100
# window key -> [position of the next request, lease end, previous window's count]
_leases: dict[str, list[int]] = {}
_leases_lock = threading.Lock()


def _counted(key: str, previous: str, limit: int, duration: int) -> tuple[int, int]:
    """``(this request's position in its window, the previous window's count)``. Counters live
    two windows (the next one weighs the previous)."""
    ttl = 2 * duration + 1
    block = limit // LEASE_FRACTION
    if block <= 1:
        return ratelimit_cache.incr_window(key, ttl, previous=previous)
    with _leases_lock:
        lease = _leases.get(key)
        if lease is not None and lease[0] <= lease[1]:
            position = lease[0]
            lease[0] += 1
            return position, lease[2]
    end, before = ratelimit_cache.incr_window(key, ttl, block, previous=previous)
    with _leases_lock:
        if len(_leases) > 10_000:
            _leases.clear()
        _leases[key] = [end - block + 2, end, before]
    return end - block + 1, before


def sliding_wait(*, limit: int, position: int, before: int, into: float, duration: int) -> float:
    """Seconds until a request at ``position`` in its window fits under ``limit`` (0: now),
    counting the previous window (``before``) by the share of it still in the last ``duration``
    seconds: the previous window slides out, or else the current one ends."""
    if window_fits(position=position, before=before, weight=1 - into / duration, limit=limit):
        return 0.0
    room = limit - position
    if room < 0:  # this window alone is over: it must become the previous one and slide out
        current = position - 1
        return duration - into + max(0.0, 1 - (limit - 1) / current) * duration
    return (1 - room / before) * duration - into


def _uncount(key: str, position: int, limit: int) -> None:
    if limit // LEASE_FRACTION <= 1:
        ratelimit_cache.hand_back(key)
        return
    with _leases_lock:
        lease = _leases.get(key)
        if lease is not None and lease[0] == position + 1:
            lease[0] = position  # handed out again


def throttle_leases_clear() -> None:
    """Forget this process's leases (tests; counters in the cache are not touched)."""
    with _leases_lock:
        _leases.clear()


class AnonThrottle(LiveRateThrottle, AnonRateThrottle):
    """Every API request without credentials, per client IP (``IAM_THROTTLE_ANON``)."""

    scope = "anon"


class UserThrottle(LiveRateThrottle, UserRateThrottle):
    """Every authenticated API request, per user (``IAM_THROTTLE_USER``)."""

    scope = "user"


class PasswordCheckThrottle(LiveRateThrottle):
    """Checks of a signed-in user's current password (change, deletion, MFA changes): per user,
    so a stolen access token cannot be used to guess the password at speed. Only requests that
    carry the password field (the view's ``password_check_field``, default ``password``), in
    any form the input would take, are counted: a name change or a body without a password
    checks nothing and spends nothing; so does a safe method (GET, HEAD, OPTIONS), which checks
    no password either (``FirstRefusalThrottling`` views do not even build it for one)."""

    scope = "password_check"
    safe_methods_exempt = True

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        if not request.user or not request.user.is_authenticated:
            return None
        field = getattr(view, "password_check_field", "password")
        if not isinstance(request.data, dict) or field not in request.data:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"user:{request.user.pk}"}
