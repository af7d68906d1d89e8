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
"""

from __future__ import annotations

from functools import cache as memoize
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from iam.accounts.models import User
from iam.core.conf import on_settings_reset
from iam.core.exceptions import TokenInvalid
from iam.sessions.models import DeviceSession
from iam.tokens.tokens import AccessToken

TTL = 60
REVOKED = "revoked"
STALE = "stale"
_USER_FIELDS = [f.attname for f in User._meta.concrete_fields if f.attname != "password"]


@memoize
def enabled() -> bool:
    """``IAM_AUTH_STATE_CACHE``: ``auto`` (on when the default cache is shared), ``on``, ``off``."""
    mode = settings.IAM_AUTH_STATE_CACHE
    if mode == "auto":
        return not isinstance(caches["default"], (LocMemCache, DummyCache))
    return mode == "on"


on_settings_reset(enabled.cache_clear)


def _session_key(sid: str) -> str:
    return f"iam:as:s:{sid}"


def _user_key(user_id: object) -> str:
    return f"iam:as:u:{user_id}"


def _user_from_row(values: tuple[Any, ...]) -> User:
    # The password stays deferred: read from the database only if something asks for it, and a
    # save() of this instance writes only the loaded columns.
    return User.from_db("default", _USER_FIELDS, values)


def _check(*, user_id: str, expires_at: float, active: bool, token: AccessToken) -> None:
    if user_id != token["sub"] or expires_at <= timezone.now().timestamp() or not active:
        raise TokenInvalid()


def session_user_for_access(*, token: AccessToken) -> User:
    """The user behind a valid access token whose session is still live, else TokenInvalid.

    One cache round trip when the shared cache has the answer; one query otherwise.
    """
    sid = token["sid"]
    use_cache = enabled()
    if use_cache:
        skey, ukey = _session_key(sid), _user_key(token["sub"])
        found = cache.get_many([skey, ukey])
        session, user_row = found.get(skey), found.get(ukey)
        if session == REVOKED:
            raise TokenInvalid()
        if session is not None and user_row is not None and user_row != STALE:
            user = _user_from_row(user_row)
            _check(user_id=session[0], expires_at=session[1], active=user.is_active, token=token)
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
        cache.add(skey, (str(row.user_id), row.expires_at.timestamp()), TTL)
        cache.add(ukey, tuple(getattr(user, name) for name in _USER_FIELDS), TTL)
    return user


def session_state_revoked(session_id: object) -> None:
    """Called by every revocation, before the revoking transaction commits (fail closed)."""
    if enabled():
        cache.set(_session_key(str(session_id)), REVOKED, TTL)


def user_state_changed(user: User, *, deleted: bool = False) -> None:
    """Replace the cached row with the saved one (or a tombstone if it is gone or partial).

    A ``set`` (not a delete) so that a refill that read the older row loses its ``add``.
    """
    if not enabled():
        return
    complete = all(name in user.__dict__ for name in _USER_FIELDS)
    value = STALE if deleted or not complete else tuple(getattr(user, n) for n in _USER_FIELDS)
    cache.set(_user_key(str(user.pk)), value, TTL)


@receiver(post_save, sender=User)
def _user_saved(sender: type, instance: User, **kwargs: Any) -> None:
    user_state_changed(instance)


@receiver(post_delete, sender=DeviceSession)
def _session_deleted(sender: type, instance: DeviceSession, **kwargs: Any) -> None:
    session_state_revoked(instance.pk)


@receiver(post_delete, sender=User)
def _user_deleted(sender: type, instance: User, **kwargs: Any) -> None:
    user_state_changed(instance, deleted=True)
