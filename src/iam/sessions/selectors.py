"""Reads over device sessions: the signed-in user's live sessions and what device each one is."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from django.db.models import QuerySet
from django.utils import timezone
from ua_parser import parse

from iam.sessions.models import DeviceSession

SESSIONS_LIST_MAX = 100
UNKNOWN = "Other"  # ua-parser's own name for "not recognised"


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


class _Device(NamedTuple):
    browser: str
    os: str
    device: str
    label: str


def _with_version(family: str, *parts: str | None) -> str:
    version = ".".join(p for p in parts if p)
    return f"{family} {version}" if version else family


@lru_cache(maxsize=1024)
def _describe(user_agent: str) -> _Device:
    result = parse(user_agent)
    agent, os, device = result.user_agent, result.os, result.device
    browser = _with_version(agent.family, agent.major) if agent else UNKNOWN
    os_name = _with_version(os.family, os.major, os.minor) if os else UNKNOWN
    device_name = device.family if device else UNKNOWN
    known = [name for name in (browser, os_name) if name != UNKNOWN]
    label = " on ".join(known) if known else "Unknown device"
    return _Device(browser=browser, os=os_name, device=device_name, label=label)


def device_describe(user_agent: str) -> dict[str, Any]:
    """What a user agent string is, for people: ``{"browser": "Firefox 128", "os": "Ubuntu",
    "device": "Other", "label": "Firefox 128 on Ubuntu"}``. Parts ua-parser does not recognise
    are ``"Other"``; ``label`` leaves them out (``"Unknown device"`` when nothing is known).
    Parsing is slow (regexes), so results are cached per string."""
    return _describe(user_agent or "")._asdict()
