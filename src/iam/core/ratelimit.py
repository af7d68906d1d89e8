"""The cache that rate limits count in: the shared cache (Redis when ``REDIS_URL`` is set), or,
while it is unreachable, a per-process fallback, so that the service keeps serving and every limit
keeps applying, per process instead of across processes.

The outage is logged once when it starts and once when it ends, and ``/readyz`` reports it
(``ratelimit_cache_degraded``). After a failure the shared cache is tried again every
``RETRY_SECONDS``, so a dead Redis costs one failed call per interval, not one per request.

Several limits of one request are taken in one round trip (``take_in_order``): a script on Redis
counts them in order and stops at the first that refuses, so a refused request spends nothing of
the limits after it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import NoPermissionError, ResponseError

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
        _script_refused.clear()

    def take_in_order(self, takes: Sequence[WindowTake], reads: Sequence[str] = ()) -> TakenInOrder:
        """Count one request in each of ``takes``, in order, stopping at the first whose limit
        the request does not fit (``window_fits``): that one is handed back, the ones after it
        are not touched. When every take fits, ``reads`` (keys of this cache) are read in the
        same go. One round trip on Redis (a script: atomic, so no other request sees a count that
        is handed back)."""
        if not takes and not reads:
            return TakenInOrder(counts=[], refused=None, found={})
        return self._run(lambda backend: _take_in_order(backend, takes, reads))

    def incr_window(
        self, key: str, ttl: int, delta: int = 1, *, previous: str | None = None
    ) -> tuple[int, int]:
        """Add ``delta`` to a counter that expires ``ttl`` seconds after it was created:
        ``(its new value, the value of the counter named previous, 0 if none)``. Atomic; one
        round trip on Redis (``SET NX EX``, ``INCRBY`` and ``GET`` pipelined)."""
        return self._run(lambda backend: _incr_window(backend, key, ttl, delta, previous))

    def count_runs(self, keys: Sequence[str], window: int) -> list[int]:
        """Add one to each counter of ``keys``, each forgotten ``window`` seconds after its
        latest count: their new values. Atomic; one round trip on Redis (``INCR`` and
        ``EXPIRE`` of each, pipelined)."""
        return self._run(lambda backend: _count_runs(backend, keys, window))

    def hand_back(self, key: str) -> None:
        """Take back one count of the counter ``key`` (a refused request), never re-creating an
        expired counter."""
        self._run(lambda backend: _hand_back(backend, key))

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


@dataclass(frozen=True, slots=True)
class WindowTake:
    """One request counted against one limit: ``key`` is the current window's counter (created
    to live ``ttl`` seconds), ``previous`` the window before it, whose count weighs ``weight``
    (the share of it still inside the limit's duration)."""

    key: str
    previous: str
    ttl: int
    limit: int
    weight: float


@dataclass(frozen=True, slots=True)
class TakenInOrder:
    """What ``take_in_order`` did: ``counts`` holds ``(position in the window, the previous
    window's count)`` of each take up to and including the refused one; ``refused`` is the index
    of the take that refused (None: every take was counted); ``found`` the reads' values (only
    when none refused; keys that hold nothing are missing, as with ``get_many``)."""

    counts: list[tuple[int, int]]
    refused: int | None
    found: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReadAhead:
    """Keys of the rate-limit cache read earlier in the request (with its limits), and what they
    held: ``get_many`` answers from it when it read every key asked for."""

    keys: frozenset[str]
    found: dict[str, Any]

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        if not self.keys.issuperset(keys):
            return ratelimit_cache.get_many(list(keys))
        return {key: self.found[key] for key in keys if key in self.found}


def window_fits(*, position: int, before: int, weight: float, limit: int) -> bool:
    """Whether the request at ``position`` in its window fits under ``limit``, with the previous
    window's ``before`` requests weighing ``weight``. The script in ``_TAKE_IN_ORDER`` decides
    the same way, on the same IEEE doubles."""
    return position <= limit and position + before * weight <= limit


# KEYS: each take's counter and previous counter, then the keys to read.
# ARGV: the number of takes, then each take's ttl, limit and weight.
# Returns {index of the refusing take (0: none), {position, before, ...}, {values read}}.
_TAKE_IN_ORDER = """
local takes = tonumber(ARGV[1])
local counts = {}
for i = 1, takes do
  local key, previous = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, weight = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  redis.call('SET', key, 0, 'EX', ARGV[3 * i - 1], 'NX')
  local position = redis.call('INCR', key)
  local before = tonumber(redis.call('GET', previous) or '0')
  counts[2 * i - 1], counts[2 * i] = position, before
  if position > limit or position + before * weight > limit then
    redis.call('DECR', key)
    return {i, counts, {}}
  end
end
if #KEYS > 2 * takes then
  return {0, counts, redis.call('MGET', unpack(KEYS, 2 * takes + 1))}
end
return {0, counts, {}}
"""
_script: list[Any] = []  # redis-py's Script (its SHA1; EVALSHA, loaded again after a restart)
_script_refused: list[bool] = []  # Redis said no to scripts: count one call at a time
_script_lock = threading.Lock()


def _refuses_scripts(exc: ResponseError) -> bool:
    """Redis will never run the script: an ACL without ``@scripting``, or no scripting at all."""
    return isinstance(exc, NoPermissionError) or str(exc).lower().startswith("unknown command")


def _take_in_order(backend: Any, takes: Sequence[WindowTake], reads: Sequence[str]) -> TakenInOrder:
    client = redis_client(backend)
    if client is None or _script_refused:
        return _take_in_order_one_by_one(backend, takes, reads)
    if not _script:
        _script.append(client.register_script(_TAKE_IN_ORDER))
    keys = [backend.make_key(name) for take in takes for name in (take.key, take.previous)]
    keys += [backend.make_key(name) for name in reads]
    args: list[Any] = [len(takes)]
    for take in takes:
        args += [take.ttl, take.limit, repr(take.weight)]
    try:
        refused, flat, values = _script[0](keys=keys, args=args, client=client)
    except ResponseError as exc:
        if not _refuses_scripts(exc):
            raise  # READONLY, OOM, BUSY...: an outage for ``_run`` (retried after a while)
        with _script_lock:
            first = not _script_refused
            _script_refused.append(True)
        if first:
            log.error(
                "Redis refuses scripts (%s); each rate limit costs round trips of its own",
                type(exc).__name__,
                extra={"event": "ratelimit_script_refused"},
            )
        return _take_in_order_one_by_one(backend, takes, reads)
    counts = [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]
    decode = backend.client.decode
    # a refused take read nothing (values is empty)
    pairs = zip(reads, values, strict=False)
    found = {name: decode(value) for name, value in pairs if value is not None}
    return TakenInOrder(counts=counts, refused=refused - 1 if refused else None, found=found)


def _take_in_order_one_by_one(
    backend: Any, takes: Sequence[WindowTake], reads: Sequence[str]
) -> TakenInOrder:
    """``take_in_order`` a call at a time: on local memory (the embedded default, the outage
    fallback) through Django's cache API, on a Redis that runs no scripts with its atomic
    ``INCRBY`` (``_incr_window``; django-redis's own ``incr`` needs a script too)."""
    counts = []
    for index, take in enumerate(takes):
        position, before = _incr_window(backend, take.key, take.ttl, 1, take.previous)
        counts.append((position, before))
        if not window_fits(position=position, before=before, weight=take.weight, limit=take.limit):
            _hand_back(backend, take.key)
            return TakenInOrder(counts=counts, refused=index, found={})
    return TakenInOrder(counts=counts, refused=None, found=backend.get_many(reads) if reads else {})


def _count_runs(backend: Any, keys: Sequence[str], window: int) -> list[int]:
    client = redis_client(backend)
    if client is None:
        return [_count_run_by_calls(backend, key, window) for key in keys]
    pipe = client.pipeline(transaction=True)  # MULTI/EXEC: no counter is ever left without a TTL
    for key in keys:
        full = backend.make_key(key)
        pipe.incr(full)
        pipe.expire(full, window)
    replies = pipe.execute()
    return [int(replies[2 * index]) for index in range(len(keys))]


def _count_run_by_calls(backend: Any, key: str, window: int) -> int:
    value, _ = _add_incr(backend, key, window, 1, None)
    backend.touch(key, window)  # forgotten ``window`` after the latest count, not the first
    return value


def _hand_back(backend: Any, key: str) -> None:
    """Take back one count of ``key`` (a refused request), never re-creating an expired key."""
    client = redis_client(backend)
    if client is None or not _script_refused:
        # django-redis decrements an existing key only (atomically, with a script on Redis)
        with contextlib.suppress(ValueError):  # expired meanwhile: nothing to hand back
            backend.decr(key)
        return
    # no scripts: DECR, and if the key had expired (DECR made it anew, without a TTL) delete it
    # again; a take in between may lose its count (one request more, in a window just ended)
    full = backend.make_key(key)
    if client.decr(full) < 0:
        client.delete(full)


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
