"""What the hot path needs to accept an access token: is its session live, who is its user.

The database is the truth. With a cache shared by every IAM process (Redis), the answer is kept
there so that a request costs one cache round trip instead of a database query:

- ``iam:as:s:<sid>`` -> ``(user_id, expires_at)`` or the tombstone ``REVOKED``;
- ``iam:as:u:<uid>`` -> the user's columns (never the password hash) or the tombstone ``STALE``.

A revocation writes its tombstone and a saved user writes its new row (``cache.set``) before the
change commits, and refills use ``cache.add`` (only if absent), so a refill racing a change can
never resurrect a revoked session or an old user row. Entries live at most ``TTL`` seconds, which
also bounds out-of-band changes made directly in SQL.

A per-process cache (local memory) is not shared, so it is not used: every request then reads the
database, which keeps revocation immediate across processes.

On top of Redis, each process keeps what it read in memory (``LocalAuthState``) for as long as it
is subscribed to the invalidation channel: every revocation and user change is published there
(before it commits), and every request first drains the messages that arrived on the socket, a
non-blocking read. A revocation answered to its caller has therefore reached every process's
socket before any later request is served. If the subscription breaks, the local copy is dropped
and requests go back to Redis until it is re-established; local entries also expire after
``TTL`` like the Redis ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from functools import cache as memoize
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from iam.core.conf import iam_settings, on_settings_reset
from iam.core.exceptions import RevocationNotPropagated, TokenInvalid
from iam.core.ratelimit import redis_client
from iam.sessions.models import DeviceSession
from iam.tokens.tokens import AccessToken

log = logging.getLogger("iam.auth_state")

TTL = 60
REVOKED = "revoked"
STALE = "stale"
CHANNEL = "iam:as:invalidate"
LOCAL_MAX_ENTRIES = 20_000


@memoize
def user_columns() -> list[str]:
    """The user's columns a token's user is built from, in model field order, without the
    password hash (kept here and in the refresh's one-statement path)."""
    model = get_user_model()
    return [f.attname for f in model._meta.concrete_fields if f.attname != "password"]


@memoize
def enabled() -> bool:
    """``IAM_AUTH_STATE_CACHE``: ``auto`` (on when the default cache is shared), ``on``, ``off``."""
    mode = iam_settings.auth_state_cache
    if mode == "auto":
        return not isinstance(caches["default"], (LocMemCache, DummyCache))
    return mode == "on"


on_settings_reset(enabled.cache_clear)


def _session_key(sid: str) -> str:
    return f"iam:as:s:{sid}"


# The user row is a tuple in model field order: the key carries that order, so processes of two
# releases with different User fields never read each other's rows.
@memoize
def _user_schema() -> str:
    return hashlib.sha256(",".join(user_columns()).encode()).hexdigest()[:8]


def _user_key(user_id: object) -> str:
    return f"iam:as:u:{_user_schema()}:{user_id}"


def _redis_client() -> Any | None:
    return redis_client(caches["default"])


class LocalAuthState:
    """Per-process copy of the auth state, trusted only while subscribed to invalidations."""

    def __init__(self) -> None:
        self.sessions: dict[str, tuple[tuple[str, float], float]] = {}
        self.users: dict[str, tuple[tuple[Any, ...], float]] = {}
        self._pubsub: Any = None
        self._pid: int | None = None
        self._retry_at = 0.0
        self._lock = threading.RLock()
        # Bumped by every applied invalidation and every drop: a thread that read Redis before an
        # invalidation was applied must not store what it read (see ``put``).
        self.generation = 0

    def drop(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                self._pubsub.close()
        self._pubsub = None
        self._retry_at = 0.0
        self.generation += 1
        self.sessions.clear()
        self.users.clear()

    def _subscribe(self) -> None:
        client = _redis_client()
        if client is None:
            raise ConnectionError("the default cache is not Redis")
        pubsub = client.pubsub()
        pubsub.subscribe(CHANNEL)
        confirmation = pubsub.get_message(timeout=1.0)
        if not confirmation or confirmation.get("type") != "subscribe":
            pubsub.close()
            raise ConnectionError("no subscription confirmation")
        self._pubsub, self._pid = pubsub, os.getpid()

    def ready(self) -> int | None:
        """Apply pending invalidations. The generation to hand to ``put`` if the local copy may be
        trusted right now, else None."""
        with self._lock:  # threaded servers: one reader of the subscription at a time
            return self.generation if self._ready() else None

    def _ready(self) -> bool:
        if self._pid != os.getpid():  # a forked worker must not share its parent's socket
            self._pubsub = None
            self._pid = os.getpid()
            self.sessions.clear()
            self.users.clear()
        if self._pubsub is None:
            if time.time() < self._retry_at:
                return False
            try:
                self._subscribe()
            except Exception:
                self._retry_at = time.time() + 5
                return False
        try:
            while (message := self._pubsub.get_message(timeout=0)) is not None:
                if message.get("type") == "message":
                    self._apply(message["data"])
        except Exception:
            log.warning("auth-state subscription lost; serving from the shared cache")
            self.drop()
            self._retry_at = time.time() + 1
            return False
        return True

    def _apply(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        kind, _, key = text.partition(":")
        self.generation += 1
        (self.sessions if kind == "s" else self.users).pop(key, None)

    def get(self, sid: str, uid: str) -> tuple[tuple[str, float], tuple[Any, ...]] | None:
        now = time.time()
        session, user = self.sessions.get(sid), self.users.get(uid)
        if session is None or user is None or session[1] <= now or user[1] <= now:
            return None
        return session[0], user[0]

    def put(
        self,
        sid: str,
        uid: str,
        session: tuple[str, float],
        user: tuple[Any, ...],
        *,
        generation: int,
    ) -> None:
        """Store what was read from Redis, unless an invalidation was applied since ``ready``."""
        with self._lock:
            if generation != self.generation:
                return
            if len(self.sessions) >= LOCAL_MAX_ENTRIES or len(self.users) >= LOCAL_MAX_ENTRIES:
                self.sessions.clear()
                self.users.clear()
            expires = time.time() + TTL
            self.sessions[sid] = (session, expires)
            self.users[uid] = (user, expires)


local_state = LocalAuthState()
on_settings_reset(local_state.drop)


def _publish(message: str) -> None:
    client = _redis_client()
    if client is not None:
        client.publish(CHANNEL, message)


def _user_from_row(values: tuple[Any, ...]) -> AbstractBaseUser:
    # The password stays deferred: read from the database only if something asks for it, and a
    # save() of this instance writes only the loaded columns.
    return get_user_model().from_db("default", user_columns(), values)


def _check(*, user_id: str, expires_at: float, active: bool, token: AccessToken) -> None:
    if user_id != token["sub"] or expires_at <= timezone.now().timestamp() or not active:
        raise TokenInvalid()


def session_user_for_access(*, token: AccessToken) -> AbstractBaseUser:
    """The user behind a valid access token whose session is still live, else TokenInvalid.

    One cache round trip when the shared cache has the answer; one query otherwise.
    """
    sid, sub = token["sid"], token["sub"]
    use_cache = enabled()
    if use_cache:
        generation = local_state.ready()
        if generation is not None and (hit := local_state.get(sid, sub)) is not None:
            user = _user_from_row(hit[1])
            _check(user_id=hit[0][0], expires_at=hit[0][1], active=user.is_active, token=token)
            return user
        skey, ukey = _session_key(sid), _user_key(sub)
        try:
            found = cache.get_many([skey, ukey])
        except Exception:
            log.warning("shared cache unreachable; checking the session in the database")
            found, use_cache = {}, False
        session, user_row = found.get(skey), found.get(ukey)
        if session == REVOKED:
            raise TokenInvalid()
        if session is not None and user_row is not None and user_row != STALE:
            user = _user_from_row(user_row)
            _check(user_id=session[0], expires_at=session[1], active=user.is_active, token=token)
            if generation is not None:
                local_state.put(sid, sub, session, user_row, generation=generation)
            return user
    try:
        row = DeviceSession.objects.select_related("user").get(pk=sid)
    except (DeviceSession.DoesNotExist, ValueError) as exc:
        raise TokenInvalid() from exc
    if row.revoked_at is not None:
        raise TokenInvalid()
    user = row.user
    _check(
        user_id=str(row.user_id),
        expires_at=row.expires_at.timestamp(),
        active=user.is_active,
        token=token,
    )
    if use_cache:
        with contextlib.suppress(Exception):  # a refill is an optimisation only
            cache.add(skey, (str(row.user_id), row.expires_at.timestamp()), TTL)
            cache.add(ukey, tuple(getattr(user, name) for name in user_columns()), TTL)
    return user


def session_state_revoked(session_id: object) -> None:
    """Called by every revocation, before the revoking transaction commits (fail closed)."""
    if enabled():
        _broadcast(_session_key(str(session_id)), REVOKED, f"s:{session_id}")


def user_state_changed(user: AbstractBaseUser, *, deleted: bool = False) -> None:
    """Replace the cached row with the saved one (or a tombstone if it is gone or partial).

    A ``set`` (not a delete) so that a refill that read the older row loses its ``add``.
    """
    if not enabled():
        return
    complete = all(name in user.__dict__ for name in user_columns())
    value = STALE if deleted or not complete else tuple(getattr(user, n) for n in user_columns())
    _broadcast(_user_key(str(user.pk)), value, f"u:{user.pk}")


def _broadcast(key: str, value: object, message: str) -> None:
    """Write the new state to the shared cache and tell every process.

    A failure is not swallowed: after one retry the caller gets ``RevocationNotPropagated`` (503)
    -- the change itself is already in the database -- because other processes may still trust
    their copies for up to ``TTL``.
    """
    for attempt in (1, 2):
        try:
            cache.set(key, value, TTL)
            _publish(message)
            return
        except Exception as exc:
            if attempt == 2:
                log.error("could not broadcast %s; auth state may lag up to %ss", message, TTL)
                raise RevocationNotPropagated() from exc


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _user_saved(sender: type, instance: AbstractBaseUser, **kwargs: Any) -> None:
    user_state_changed(instance)


@receiver(post_delete, sender=DeviceSession)
def _session_deleted(sender: type, instance: DeviceSession, **kwargs: Any) -> None:
    session_state_revoked(instance.pk)


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def _user_deleted(sender: type, instance: AbstractBaseUser, **kwargs: Any) -> None:
    user_state_changed(instance, deleted=True)
