"""Review: the e-mail change flow has no way to get a new link for the same address."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.conftest import PASSWORD, bearer, link_token

pytestmark = pytest.mark.django_db


def test_asking_again_for_the_pending_address_mails_a_new_link(api, user, login, outbox):
    """The link lives 24 h and there is no resend for e-mail changes; asking again for the same
    address is a silent no-op (200, no mail), so an expired or lost link is a dead end until
    the user first withdraws the change."""
    ask = {"email": "new@example.com", "current_password": PASSWORD}
    api.patch("/api/auth/me/", ask, format="json", **bearer(login(api).json()["access"]))
    first = link_token(outbox[-1])
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=False):
        expired = api.post("/api/auth/verify-email/", {"token": first}, format="json")
        assert expired.json()["code"] == "token_expired"
        outbox.clear()
        again = api.patch(
            "/api/auth/me/", ask, format="json", **bearer(login(api).json()["access"])
        )
        assert again.status_code == 200
        assert [m.to for m in outbox] == [["new@example.com"]]
