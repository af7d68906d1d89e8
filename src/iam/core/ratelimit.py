"""The cache that rate limits count in: the shared cache (Redis when ``REDIS_URL`` is set), or,
while it is unreachable, a per-process fallback, so that the service keeps serving and every limit
keeps applying, per process instead of across processes.

The outage is logged once when it starts and once when it ends, and ``/readyz`` reports it
(``ratelimit_cache_degraded``). After a failure the shared cache is tried again every
``RETRY_SECONDS``, so a dead Redis costs one failed call per interval, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

log = logging.getLogger("iam.ratelimit")

RETRY_SECONDS = 5.0


class RateLimitCache:
    def __init__(self) -> None:
        self._local = LocMemCache("iam-ratelimit-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._down_since: float | None = None

    def _run[T](self, operation: Callable[[Any], T]) -> T:
        """``operation(backend)`` on the shared cache, or on the per-process fallback while the
        shared cache is unreachable."""
        if time.time() >= self._retry_at:
            try:
                result = operation(caches["default"])
            except ValueError:  # incr/decr of a missing key: an answer, not an outage
                raise
            except Exception as exc:
                self._went_down(exc)
            else:
                if self._down_since is not None:
                    self._came_back()
                return result
        return operation(self._local)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._run(lambda backend: getattr(backend, name)(*args, **kwargs))

    def _went_down(self, exc: Exception) -> None:
        with self._lock:
            self._retry_at = time.time() + RETRY_SECONDS
            if self._down_since is None:
                self._down_since = time.time()
                log.error(
                    "shared cache unreachable (%s); rate limits fall back to per-process counters",
                    type(exc).__name__,
                    extra={"event": "ratelimit_cache_down"},
                )

    def _came_back(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            log.warning(
                "shared cache reachable again after %.0f s; rate limits are shared again",
                time.time() - self._down_since,
                extra={"event": "ratelimit_cache_up"},
            )
            self._down_since = None
            self._local.clear()

    def degraded_since(self) -> float | None:
        """When the shared cache became unreachable (epoch seconds), or None while it works."""
        return self._down_since

    def probe(self) -> bool:
        """Try the shared cache now (readiness checks): True if it answers."""
        self._retry_at = 0.0
        self._call("get", "iam:ratelimit:probe")
        return self._down_since is None

    def reset(self) -> None:
        """Forget the fallback state and counters (tests)."""
        self._local.clear()
        self._retry_at, self._down_since = 0.0, None

    def incr_window(
        self, key: str, ttl: int, delta: int = 1, *, previous: str | None = None
    ) -> tuple[int, int]:
        """Add ``delta`` to a counter that expires ``ttl`` seconds after it was created:
        ``(its new value, the value of the counter named previous, 0 if none)``. Atomic; one
        round trip on Redis (``SET NX EX``, ``INCRBY`` and ``GET`` pipelined)."""
        return self._run(lambda backend: _incr_window(backend, key, ttl, delta, previous))

    # the cache API the throttles use
    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self._call("set", key, value, timeout)

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool:
        return self._call("add", key, value, timeout)

    def incr(self, key: str, delta: int = 1) -> int:
        return self._call("incr", key, delta)

    def decr(self, key: str, delta: int = 1) -> int:
        return self._call("decr", key, delta)

    def touch(self, key: str, timeout: float | None = None) -> bool:
        return self._call("touch", key, timeout)

    def delete_many(self, keys: list[str]) -> None:
        self._call("delete_many", keys)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        return self._call("get_many", keys)


def redis_client(backend: Any) -> Any | None:
    """The raw redis-py client behind a django-redis cache, or None for other backends."""
    get_client = getattr(getattr(backend, "client", None), "get_client", None)
    return get_client(write=True) if get_client else None


def _incr_window(
    backend: Any, key: str, ttl: int, delta: int, previous: str | None
) -> tuple[int, int]:
    client = redis_client(backend)
    if client is None:
        return _add_incr(backend, key, ttl, delta, previous)
    full = backend.make_key(key)
    pipe = client.pipeline(transaction=False)
    pipe.set(full, 0, ex=ttl, nx=True)
    pipe.incrby(full, delta)
    if previous is not None:
        pipe.get(backend.make_key(previous))
    replies = pipe.execute()
    return int(replies[1]), int(replies[2] or 0) if previous is not None else 0


def _add_incr(
    backend: Any, key: str, ttl: int, delta: int, previous: str | None
) -> tuple[int, int]:
    backend.add(key, 0, ttl)
    try:
        value = backend.incr(key, delta)
    except ValueError:  # expired between add and incr
        backend.set(key, delta, ttl)
        value = delta
    return value, int(backend.get(previous) or 0) if previous is not None else 0


ratelimit_cache = RateLimitCache()
