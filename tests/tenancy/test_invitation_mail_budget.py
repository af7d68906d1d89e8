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
    for _ in range(settings.IAM_MAIL_BUDGET_PER_ADDRESS + 5):
        response = api.post(
            "/api/tenant/invitations/", {"email": "victim@example.org"}, format="json", **adam
        )
        assert response.status_code in (201, 429)
    sent = [m for m in outbox if m.to == ["victim@example.org"]]
    assert len(sent) <= settings.IAM_MAIL_BUDGET_PER_ADDRESS
