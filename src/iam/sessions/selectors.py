"""Reads over device sessions: the signed-in user's live sessions, and which devices a user signed
in from before."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Exists, QuerySet
from django.utils import timezone

from iam.sessions.models import DeviceSession

SESSIONS_LIST_MAX = 100


def sessions_live_for_user(
    *, user_id: uuid.UUID | str, now: datetime | None = None
) -> QuerySet[DeviceSession]:
    """The user's live sessions (not revoked, within both the absolute and the refresh lifetime),
    most recently used first."""
    now = now or timezone.now()
    return DeviceSession.objects.filter(
        user_id=user_id,
        revoked_at__isnull=True,
        expires_at__gt=now,
        refresh_expires_at__gt=now,
    ).order_by("-last_used_at", "-created_at", "-pk")


def session_live_get_for_user(
    *, user_id: uuid.UUID | str, session_id: str, now: datetime | None = None
) -> DeviceSession | None:
    """One live session of this user, or ``None``: unknown, malformed, ended or someone else's
    id all look the same, so the answer says nothing about other users' sessions."""
    try:
        pk = uuid.UUID(session_id)
    except (ValueError, TypeError):
        return None
    return sessions_live_for_user(user_id=user_id, now=now).filter(pk=pk).first()


def sign_in_device_seen(
    *, user_id: Any, user_agent: str, exclude_session: Any = None
) -> tuple[Exists, Exists]:
    """Two ``EXISTS`` expressions for a sign-in: whether the user has any other session (ended
    ones are kept for ``IAM_SESSION_RETENTION``), and one from this user agent. Each stops at
    the first row, so the check costs the same for an account with three sessions and for a
    CLI that signed in ten thousand times. A password login asks them with whether MFA is on,
    in one statement after it locked the user's row and before its session exists
    (``iam.authn.flows``)."""
    earlier = DeviceSession.objects.filter(user_id=user_id)
    if exclude_session is not None:
        earlier = earlier.exclude(pk=exclude_session)
    return Exists(earlier), Exists(earlier.filter(user_agent=user_agent))
