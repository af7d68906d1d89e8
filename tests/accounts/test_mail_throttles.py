"""Review: what the per-address mail throttle does and does not bound."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

STRANGER = {"REMOTE_ADDR": "203.0.113.66"}
OWNER = {"REMOTE_ADDR": "198.51.100.7"}


def test_a_stranger_cannot_keep_me_from_resetting_my_password(api, user, outbox):
    """The bucket is the address alone: three anonymous requests an hour from anywhere lock
    the owner out of password reset (and likewise resend and register) indefinitely."""
    for _ in range(3):
        api.post(
            "/api/auth/password/reset/", {"email": "alice@example.com"}, format="json", **STRANGER
        )
    mine = api.post(
        "/api/auth/password/reset/", {"email": "alice@example.com"}, format="json", **OWNER
    )
    assert mine.status_code == 202, mine.json()


def test_registration_is_rate_limited_per_client(api, db, outbox):
    """Only the address is limited: one client can create accounts (one Argon2 hash and one mail
    each) without bound by varying the address. Login caps a client at 5/min."""
    codes = {
        api.post(
            "/api/auth/register/",
            {"email": f"bot{i}@example.com", "password": PASSWORD},
            format="json",
            **STRANGER,
        ).status_code
        for i in range(30)
    }
    assert 429 in codes


def test_email_change_requests_cannot_flood_one_address(api, user, login, outbox):
    """PATCH /me mails the requested address (a link, or a "someone tried" notice to its owner)
    outside the per-address mail limit of 3/hour: one account can mail any address every
    time it alternates between two addresses (5 requests/min)."""
    now = timezone.now()
    for minute in range(4):
        with time_machine.travel(now + timedelta(minutes=2 * minute), tick=False):
            access = login(api).json()["access"]
            for address in ("target@example.net", "alice@example.com"):  # ask, then withdraw
                api.patch(
                    "/api/auth/me/",
                    {"email": address, "current_password": PASSWORD},
                    format="json",
                    **bearer(access),
                )
    to_target = [m for m in outbox if m.to == ["target@example.net"]]
    assert len(to_target) <= 3
