"""Review: invitation mails are an unthrottled way to mail any address."""

from __future__ import annotations

import pytest

from tests.tenancy.conftest import auth

pytestmark = pytest.mark.django_db


def test_invitation_mails_to_one_address_are_budgeted(
    api, acme, make_member, signed_in, outbox, settings
):
    """Every POST /api/tenant/invitations/ replaces the open invitation and mails the address
    again; the endpoint has no throttle and tenancy/mail.py bypasses the per-address mail budget
    that accounts/mail.py applies, so one admin (or a stolen admin token) can flood any inbox
    from the IAM's sender."""
    make_member("adam@example.com", acme, "admin")
    adam = auth(signed_in("adam@example.com"))
    statuses = [
        api.post("/api/tenant/invitations/", {"email": email}, format="json", **adam).status_code
        for email in ["victim@example.org", "VICTIM@example.org", "victim@EXAMPLE.ORG"] * 5
    ]
    assert statuses == [201] * 15  # the answer never shows the budget
    # fixed: invitation mails go to an address nobody has shown to own: the unsolicited
    # budget (3/hour) holds, whatever the spelling
    assert settings.IAM_MAIL_BUDGET_UNSOLICITED == 3
    assert [m.to for m in outbox] == [  # mailed as typed, the domain lower-cased
        ["victim@example.org"],
        ["VICTIM@example.org"],
        ["victim@example.org"],
    ]
