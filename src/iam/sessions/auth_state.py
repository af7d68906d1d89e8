"""What the hot path needs to accept an access token: is its session live, who is its user.

The database is the truth. With a cache shared by every IAM process (Redis), the answer is kept
there so that a request costs one cache round trip instead of a database query:

- ``iam:as:s:<sid>`` -> ``(user_id, expires_at)`` or the tombstone ``REVOKED``;
- ``iam:as:u:<uid>`` -> the user's columns (never the password hash) or the tombstone ``STALE``.

Only a refill writes a row, and it reads it from the database and stores it with ``cache.add``
(only if absent). A change writes a tombstone (``cache.set``) before it commits, so a refill
racing a change can never resurrect a revoked session or an old user row, and a user instance
that is older than the database in its other columns (``request.user`` read from the cache) can
never write them back into the cache. Entries live at most ``TTL`` seconds, which also bounds
out-of-band changes made directly in SQL. (The price: for up to ``TTL`` seconds after a change of
a cached column, that user's requests read the database.)

A per-process cache (local memory) is not shared, so it is not used: every request then reads the
database, which keeps revocation immediate across processes.

On top of Redis, each process keeps what it read in memory (``LocalAuthState``) for as long as it
is subscribed to the invalidation channel: every revocation and user change is published there
(before it commits), and every request first drains the messages that arrived on the socket, a
non-blocking read (skipped when a ``poll`` of the socket and redis-py's own buffer show that
nothing has arrived: ``LocalAuthState._idle``). A revocation answered to its caller has
therefore reached every process's socket before any later request is served. If the
subscription breaks, the local copy is dropped and requests go back to Redis until it is
re-established; local entries also expire after ``TTL`` like the Redis ones. A connection can
also die without a word (a partition, a firewall that forgets it): the copy is trusted only
while the subscription has proven within ``LIVENESS_SECONDS`` (3) that it delivers, by a PING
answered on it; a silent one is dropped (``HEARTBEAT_SECONDS`` says how). The channel is
named after the cache's key prefix and Redis database (``CACHE_KEY_PREFIX``), so deployments
sharing one Redis server do not drop each other's copies.

What is broadcast
-----------------
A cached entry is wrong only about a change it has not heard of, so what matters is what a
process still holding the old entry would allow. The cached user row is trusted for: ``is_active``
(checked here), ``is_staff`` and ``is_superuser`` (Django and DRF permission checks on
``request.user``), ``email`` and ``email_verified`` (invitation acceptance matches them, token
introspection reports the address as ``username``) and ``pending_email`` (a withdrawal of an
address change decides from it). Hence (``user_change_kind`` decides for user saves):

- **required**: a session revoked (logout, logout-all, one session ended, refresh-token reuse, a
  password change or reset, MFA turned on, off or reset, a membership ended or a tenant
  deactivated, an account deleted, an OAuth revocation) or deleted while live; a user deleted; a
  user saved inactive (a deactivation, and saving an inactive user again re-sends it); ``is_staff``,
  ``is_superuser`` or ``email_verified`` turned off; ``email`` changed; ``pending_email`` set to
  an address. If Redis cannot be told, the caller gets ``RevocationNotPropagated`` (503
  ``revocation_not_propagated``): fail closed.
- **best effort**: any other change of a cached column of an existing user: ``name``,
  ``username``, ``last_login``, a flag turned on (``email_verified`` after verification,
  ``is_active``, ``is_staff``), ``pending_email`` cleared. A process that missed one can only
  show an old value or refuse something for a while. A failure is logged and never raised: while
  Redis is unreachable nobody reads it (every process reads the database), and a process that
  still reads it may show the old value for at most ``TTL`` seconds.
- **none**: a new user (no process can have seen its id), the password (never cached: read from
  the database when asked), saves that write no cached column.

When a required broadcast fails
-------------------------------
The change stands: the database is the truth and the safer state (a revoked session's refresh
token is dead everywhere, and every process that reads the database refuses its access tokens).
Inside ``broadcasts_deferred`` (``iam.core.broadcasts``; the services of every flow that can
revoke use it) a failure does not interrupt the flow: it runs to its end and commits its change
together with its mails and audit events, and ``RevocationNotPropagated`` is raised afterwards.
Outside any such block it is raised at once (in a transaction of the caller's own, that rolls the
change back).

Failed broadcasts are kept by the process that made them and re-sent with its next contact to
Redis (its next broadcast, or its next authenticated request once Redis answers), for ``TTL``
seconds: after that every entry older than the change has expired anyway. So once Redis is back,
every process agrees again at the latest ``TTL`` seconds after the change, and as soon as the
process that made it serves a request.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select
import threading
import time
from collections.abc import Iterable, Sequence
from functools import cache as memoize
from typing import Any, Literal, Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.db.models import DEFERRED
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from iam.core.broadcasts import broadcast_outcome
from iam.core.conf import iam_settings, on_settings_reset
from iam.core.exceptions import RevocationNotPropagated, TokenInvalid
from iam.core.ratelimit import redis_client
from iam.sessions.models import DeviceSession
from iam.tokens.tokens import AccessToken

log = logging.getLogger("iam.auth_state")

TTL = 60
REVOKED = "revoked"
STALE = "stale"
CHANNEL = "iam:as:invalidate"  # scoped by the cache's key prefix and database: see _channel()
LOCAL_MAX_ENTRIES = 20_000
# At most this many reads of the channel per request: a flood of invalidations is applied over
# several requests, each decided from Redis until the channel is read to its end.
DRAIN_MAX = 10_000
_poll = getattr(select, "poll", None)  # not on Windows: there every request asks redis-py
# A subscription is trusted only while it has proven recently that it still delivers: a PING
# sent on it whose answer has been read proves that everything published before the PING was
# read too (Redis answers on the same connection, in order). A connection that died without a
# word (a partition, a firewall forgetting it, a host gone) would otherwise be trusted until
# every entry expired (TTL) and miss every revocation meanwhile. A request sends a PING once the
# last proof is HEARTBEAT_SECONDS old (one write, no wait: the answer is read by a later
# request); past LIVENESS_SECONDS without a proof, requests are decided from Redis; a PING
# unanswered that long drops the subscription.
HEARTBEAT_SECONDS = 1.0
LIVENESS_SECONDS = 3.0
PING_PAYLOAD = "iam-auth-state"  # and a number: an answer counts only for the PING it answers
# After a failed broadcast, best-effort ones do not try Redis again for this long (a Redis that
# does not answer costs a connect timeout per try).
RETRY_SECONDS = 5.0


@memoize
def _every_column() -> tuple[type[AbstractBaseUser], list[str], int]:
    """The user model, every concrete column of it, and the password's place among them."""
    model = get_user_model()
    names = [f.attname for f in model._meta.concrete_fields]
    return model, names, names.index("password")


@memoize
def user_columns() -> list[str]:
    """The user's columns a token's user is built from, in model field order, without the
    password hash (kept here and in the refresh's one-statement path)."""
    _, names, password = _every_column()
    return names[:password] + names[password + 1 :]


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


def _channel(client: Any) -> str:
    """The invalidation channel of this deployment. Redis channels are global to a server (not
    per database), so the name carries the cache's key prefix and the database number."""
    db = client.connection_pool.connection_kwargs.get("db", 0)
    return f"{caches['default'].make_key(CHANNEL)}@{db}"


class LocalAuthState:
    """Per-process copy of the auth state, trusted only while subscribed to invalidations."""

    def __init__(self) -> None:
        self.sessions: dict[str, tuple[tuple[str, float], float]] = {}
        self.users: dict[str, tuple[tuple[Any, ...], float]] = {}
        self._pubsub: Any = None
        # (the subscription's socket, its file descriptor, a poll registered on it)
        self._poller: tuple[Any, int, Any] | None = None
        self._pid: int | None = None
        self._retry_at = 0.0
        self._pings_sent = 0  # numbers the PINGs: the last one is the one out, if any
        self._unproven()
        self._lock = threading.RLock()
        # Bumped by every applied invalidation and every drop: a thread that read Redis before an
        # invalidation was applied must not store what it read (see ``put``).
        self.generation = 0

    def drop(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                self._pubsub.close()
        self._pubsub = None
        self._poller = None
        self._retry_at = 0.0
        self._unproven()
        self._forget()

    def _unproven(self) -> None:
        """No subscription, nothing proven, no PING out (a new subscription starts afresh)."""
        # (time.monotonic) Everything published before ``_proven_at`` has been read; a PING sent
        # at ``_ping_at`` (None: none unanswered); requests take the fast path until
        # ``_heartbeat_at`` (``_proven_at + HEARTBEAT_SECONDS``).
        self._proven_at = self._heartbeat_at = 0.0
        self._ping_at: float | None = None

    def _forget(self) -> None:
        self.generation += 1
        self.sessions.clear()
        self.users.clear()

    def _subscribe(self) -> None:
        client = _redis_client()
        if client is None:
            raise ConnectionError("the default cache is not Redis")
        pubsub = client.pubsub()
        asked = time.monotonic()
        pubsub.subscribe(_channel(client))
        confirmation = pubsub.get_message(timeout=1.0)
        if not confirmation or confirmation.get("type") != "subscribe":
            pubsub.close()
            raise ConnectionError("no subscription confirmation")
        self._pubsub, self._pid = pubsub, os.getpid()
        self._proven(asked)

    def _proven(self, at: float) -> None:
        """Everything published before ``at`` (time.monotonic) has been read."""
        self._proven_at, self._heartbeat_at, self._ping_at = at, at + HEARTBEAT_SECONDS, None

    def ready(self) -> int | None:
        """Apply pending invalidations. The generation to hand to ``put`` if the local copy may be
        trusted right now, else None."""
        with self._lock:  # threaded servers: one reader of the subscription at a time
            return self.generation if self._ready() else None

    def _ready(self) -> bool:
        if self._pid != os.getpid():  # a forked worker must not share its parent's socket
            self._pubsub = self._poller = None
            self._unproven()
            self._forget()
            self._pid = os.getpid()
        if self._pubsub is None:
            if time.time() < self._retry_at:
                return False
            try:
                self._subscribe()
            except Exception:
                self._retry_at = time.time() + 5
                return False
            _pending_flush()  # Redis answers again: re-send what this process failed to send
        if time.monotonic() < self._heartbeat_at:
            try:
                idle = self._idle()
            except Exception:  # internals of a redis-py it does not know: get_message decides
                idle = False
            if idle:
                return True
        try:
            for _ in range(DRAIN_MAX):
                message = self._pubsub.get_message(timeout=0)
                if message is None:
                    # get_message also answers None for a health check's PONG or a maintenance
                    # notice, with more behind it in redis-py's buffer: read on until it is empty
                    if _buffered(self._pubsub.connection) is True:
                        continue
                    break
                kind = message.get("type")
                if kind == "message":
                    self._apply(message["data"])
                elif kind == "pong":
                    # only the answer to the PING out: an older one (sent on a connection
                    # redis-py has replaced since) vouches for nothing
                    if self._ping_at is not None and _text(message["data"]) == self._ping_text():
                        self._proven(self._ping_at)
                elif kind == "subscribe":
                    # redis-py reconnected and subscribed again by itself: whatever was
                    # published while the connection was down never arrived.
                    log.warning("auth-state subscription re-established; local copy dropped")
                    self._forget()
                    self._proven(time.monotonic())
                    _pending_flush()
            else:  # a flood not read to its end: this request is decided from Redis
                return False
            return self._alive()
        except Exception:
            log.warning("auth-state subscription lost; serving from the shared cache")
            self.drop()
            self._retry_at = time.time() + 1
            return False

    def _alive(self) -> bool:
        """After the channel was read: whether it has proven recently enough that it delivers
        (see HEARTBEAT_SECONDS); sends the PING that proves it, drops a silent one."""
        now = time.monotonic()
        if now < self._heartbeat_at:
            return True
        if self._ping_at is None:
            self._pings_sent += 1
            self._pubsub.ping(self._ping_text())
            self._ping_at = now
        elif now - self._ping_at > LIVENESS_SECONDS:
            log.warning(
                "auth-state subscription silent for %ss (no answer to its ping); local copy "
                "dropped, serving from the shared cache",
                LIVENESS_SECONDS,
            )
            self.drop()
            self._retry_at = time.time() + 1
            return False
        return now - self._proven_at <= LIVENESS_SECONDS

    def _ping_text(self) -> str:
        return f"{PING_PAYLOAD}:{self._pings_sent}"

    def _idle(self) -> bool:
        """True only when the subscription surely has nothing to read, so that a request need
        not go through redis-py's ``get_message`` (a dozen Python calls and three system calls
        to find nothing): nothing buffered in redis-py's parser (or in TLS), the socket not
        readable (``poll``, which also reports a closed or failed socket), and no health check
        due. The same check redis-py's hiredis parser makes before it reads. Anything it does
        not recognise (another parser, no ``poll``) answers False: ``get_message`` decides."""
        connection: Any = getattr(self._pubsub, "connection", None)
        sock: Any = getattr(connection, "_sock", None)
        if sock is None or _poll is None:
            return False
        if connection.health_check_interval and time.monotonic() > connection.next_health_check:
            return False
        if connection.should_reconnect():  # flagged by a maintenance notice: get_message
            return False  # reconnects and subscribes again
        if _buffered(connection) is not False:
            return False
        if hasattr(sock, "pending") and sock.pending():  # TLS: decrypted, not yet read
            return False
        fd = sock.fileno()  # -1 once closed: never poll a number another socket may reuse
        if self._poller is None or self._poller[0] is not sock or self._poller[1] != fd:
            if fd < 0:
                return False
            poller = _poll()
            poller.register(fd, select.POLLIN)
            self._poller = (sock, fd, poller)
        return not self._poller[2].poll(0)

    def _apply(self, data: bytes | str) -> None:
        kind, _, key = _text(data).partition(":")
        self.generation += 1
        (self.sessions if kind == "s" else self.users).pop(key, None)

    def invalidate(self, message: str) -> None:
        """A change made by this process: its own copy is dropped at once, whether or not the
        message reaches Redis."""
        with self._lock:
            self._apply(message)

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


def _text(data: bytes | str) -> str:
    return data.decode() if isinstance(data, bytes) else data


def _buffered(connection: Any) -> bool | None:
    """Whether redis-py holds bytes of this connection it has read from the socket and not
    parsed yet (None: a parser it does not know)."""
    parser = getattr(connection, "_parser", None)
    reader = getattr(parser, "_reader", None)  # hiredis: what it was fed and not parsed
    if reader is not None:
        return bool(reader.has_data()) if hasattr(reader, "has_data") else None
    buffer: Any = getattr(parser, "_buffer", None)  # the pure-Python parsers
    return bool(buffer.unread_bytes()) if hasattr(buffer, "unread_bytes") else None


local_state = LocalAuthState()
on_settings_reset(local_state.drop)


def user_without_password(values: Sequence[Any], db: str = "default") -> AbstractBaseUser:
    """The user whose ``user_columns()`` are ``values``, its password deferred: read from the
    database only if something asks for it, and a save() of this instance writes only the
    loaded columns.

    ``from_db`` is given every column, the password as ``DEFERRED``: given only some, it would
    match each model field against the names passed (a quadratic scan, on every request)."""
    model, names, password = _every_column()
    return model.from_db(db, names, (*values[:password], DEFERRED, *values[password:]))


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
            user = user_without_password(hit[1])
            _check(user_id=hit[0][0], expires_at=hit[0][1], active=user.is_active, token=token)
            return user
        skey, ukey = _session_key(sid), _user_key(sub)
        try:
            found = cache.get_many([skey, ukey])
        except Exception:
            log.warning("shared cache unreachable; checking the session in the database")
            found, use_cache = {}, False
        else:
            if _pending:  # Redis answers again: first re-send what this process could not send,
                _pending_flush()  # (what it just read may predate it)
                found = {}  # and decide this request from the database
        session, user_row = found.get(skey), found.get(ukey)
        if session == REVOKED:
            raise TokenInvalid()
        if session is not None and user_row is not None and user_row != STALE:
            user = user_without_password(user_row)
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


# --- broadcasts -------------------------------------------------------------------------------


# Broadcasts that did not reach Redis: cache key -> (value, message, keep until). Re-sent with
# the process's next contact to Redis; after TTL they are pointless (every entry that predates
# the change has expired) and dropped.
_pending: dict[str, tuple[object, str, float]] = {}
_pending_lock = threading.Lock()
_best_effort_retry_at = 0.0


def _send(items: Iterable[tuple[str, object, str]]) -> None:
    """Write the tombstones and publish the messages (two round trips, whatever the count)."""
    items = list(items)
    cache.set_many({key: value for key, value, _ in items}, TTL)
    client = _redis_client()
    if client is not None:
        channel = _channel(client)
        pipe = client.pipeline(transaction=False)
        for _, _, message in items:
            pipe.publish(channel, message)
        pipe.execute()


def _pending_add(key: str, value: object, message: str) -> None:
    with _pending_lock:
        if len(_pending) >= LOCAL_MAX_ENTRIES:
            _pending.pop(next(iter(_pending)))  # the oldest: the first to become pointless
        _pending[key] = (value, message, time.time() + TTL)


def _pending_items() -> list[tuple[str, object, str]]:
    """The broadcasts still worth re-sending (expired ones are dropped)."""
    now = time.time()
    with _pending_lock:
        for key in [k for k, (_, _, until) in _pending.items() if until <= now]:
            del _pending[key]
        return [(key, value, message) for key, (value, message, _) in _pending.items()]


def _pending_done(items: list[tuple[str, object, str]]) -> None:
    with _pending_lock:
        for key, value, message in items:
            if (found := _pending.get(key)) is not None and found[:2] == (value, message):
                del _pending[key]


def _pending_flush() -> None:
    """Re-send what this process failed to broadcast (never raises: they stay pending)."""
    if not _pending:
        return
    items = _pending_items()
    try:
        _send(items)
    except Exception:
        return
    _pending_done(items)
    log.warning("re-sent %s auth-state broadcast(s) that had failed", len(items))


def pending_broadcasts() -> int:
    """How many failed broadcasts this process still has to re-send."""
    return len(_pending)


def pending_broadcasts_clear() -> None:
    """Forget them (tests)."""
    global _best_effort_retry_at
    with _pending_lock:
        _pending.clear()
    _best_effort_retry_at = 0.0


def _broadcast(key: str, value: object, message: str, *, required: bool) -> None:
    """Write the tombstone to the shared cache and tell every process (see the module docstring
    for what happens when that fails)."""
    global _best_effort_retry_at
    local_state.invalidate(message)
    outcome = broadcast_outcome()
    skip = (required and outcome is not None and outcome.failure is not None) or (
        not required and time.time() < _best_effort_retry_at
    )
    error: Exception | None = None
    if not skip:
        items = [*_pending_items(), (key, value, message)]
        for _attempt in range(2 if required else 1):
            try:
                _send(items)
            except Exception as exc:
                error = exc
            else:
                _pending_done(items)
                return
    # Kept for re-sending only if the change commits (a rolled-back one must not be re-sent).
    transaction.on_commit(lambda: _pending_add(key, value, message), robust=True)
    if not required:
        _best_effort_retry_at = time.time() + RETRY_SECONDS
        log.warning("could not broadcast %s (best effort); kept for re-sending", message)
        return
    if error is not None:
        log.error("could not broadcast %s; other processes may lag up to %ss", message, TTL)
    if outcome is None:
        raise RevocationNotPropagated() from error
    outcome.failure = outcome.failure or error


def session_state_revoked(session_id: object) -> None:
    """Called by every revocation, after its write and before its transaction (if it has one)
    commits (required)."""
    if enabled():
        _broadcast(_session_key(str(session_id)), REVOKED, f"s:{session_id}", required=True)


def user_state_changed(*, user_id: object, required: bool) -> None:
    """A user's cached row may be out of date: tombstone it (``required``: fail closed)."""
    if enabled():
        _broadcast(_user_key(str(user_id)), STALE, f"u:{user_id}", required=required)


# --- which user changes are broadcast --------------------------------------------------------

ChangeKind = Literal["none", "best_effort", "required"]
# Flags that allow something while on: turning one off must reach every process.
_GRANTING_FLAGS = ("is_active", "is_staff", "is_superuser", "email_verified")
_WATCHED = (*_GRANTING_FLAGS, "email", "pending_email")


class WatchedUser(Protocol):
    """The columns of ``settings.AUTH_USER_MODEL`` (``iam.accounts.User``) whose change decides
    how a save is broadcast."""

    is_active: bool
    is_staff: bool
    is_superuser: bool
    email_verified: bool
    email: str
    pending_email: str


def user_change_kind(
    *, before: dict[str, Any] | None, user: WatchedUser, written: Iterable[str]
) -> ChangeKind:
    """How a save of an existing user that wrote the columns ``written`` must be broadcast.
    ``before`` holds the watched columns among them as the database had them before the save
    (None: the row was not found)."""
    written = set(written)
    if not written.intersection(user_columns()):
        return "none"
    if before is None:
        return "required"
    if "is_active" in written and not user.is_active:
        return "required"
    for flag in _GRANTING_FLAGS:
        if flag in before and before[flag] and not getattr(user, flag):
            return "required"
    if "email" in before and before["email"] != user.email:
        return "required"
    if (
        "pending_email" in before
        and user.pending_email
        and before["pending_email"] != (user.pending_email)
    ):
        return "required"
    return "best_effort"


def _written(instance: AbstractBaseUser, update_fields: Iterable[str] | None) -> set[str]:
    """The columns a save writes: ``update_fields`` (names or attnames), else every loaded one."""
    fields = type(instance)._meta.concrete_fields
    if update_fields is not None:
        names = set(update_fields)
        return {f.attname for f in fields if f.name in names or f.attname in names}
    return {f.attname for f in fields if f.attname in instance.__dict__}


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _user_saving(
    sender: type, instance: AbstractBaseUser, update_fields: Any = None, **kwargs: Any
) -> None:
    """Read what the save may take away, as the database has it now (saves of users are rare;
    one indexed query, and none for a new user or a save that writes no watched column)."""
    if instance._state.adding or not enabled():
        return
    watched = [name for name in _WATCHED if name in _written(instance, update_fields)]
    before: dict[str, Any] | None = {}
    if watched:
        before = type(instance)._default_manager.filter(pk=instance.pk).values(*watched).first()
    instance.__dict__["_auth_state_before"] = before


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _user_saved(
    sender: type, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    # instance: a settings.AUTH_USER_MODEL, which has the WatchedUser columns
    if created or not enabled():
        return
    kind = user_change_kind(
        before=instance.__dict__.pop("_auth_state_before", None),
        user=instance,
        written=_written(instance, update_fields),
    )
    if kind != "none":
        user_state_changed(user_id=instance.pk, required=kind == "required")


@receiver(post_delete, sender=DeviceSession)
def _session_deleted(sender: type, instance: DeviceSession, **kwargs: Any) -> None:
    """A live session deleted must reach every process; an ended one was broadcast when it ended
    (revoked) or is refused by its cached expiry."""
    if instance.revoked_at is None and instance.expires_at > timezone.now():
        session_state_revoked(instance.pk)


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def _user_deleted(sender: type, instance: AbstractBaseUser, **kwargs: Any) -> None:
    user_state_changed(user_id=instance.pk, required=True)
