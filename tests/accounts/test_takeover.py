"""Review: ways to end up controlling someone else's account (issue 3)."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, bearer, link_token

pytestmark = pytest.mark.django_db

SQUATTER = "squatter chose this passphrase"
VICTIM = "victim chose this passphrase"


def test_a_squatters_password_does_not_survive_the_victims_verification(api, keys, outbox, login):
    """Pre-registration hijack: anyone may register an address they do not own. When the owner
    later registers it, they get the same 201 and a verification link for the *existing*
    account; using it verifies the account with the squatter's password, who can then sign in."""
    body = {"email": "victim@example.com", "password": SQUATTER}
    assert api.post("/api/auth/register/", body, format="json").status_code == 201
    outbox.clear()  # the squatter never sees this mailbox
    body = {"email": "victim@example.com", "password": VICTIM}
    assert api.post("/api/auth/register/", body, format="json").status_code == 201
    [mail] = outbox
    verified = api.post("/api/auth/verify-email/", {"token": link_token(mail)}, format="json")
    assert verified.status_code == 200
    assert login(api, email="victim@example.com", password=SQUATTER).status_code != 200


def test_a_password_reset_kills_a_pending_email_change(api, user, tokens, outbox):
    """Someone with the password asks to move the account to their address; the owner recovers
    the account with a reset ("every session is revoked"), yet the pending change still goes
    through and takes the address (and so all future resets) away from the owner."""
    asked = api.patch(
        "/api/auth/me/",
        {"email": "intruder@example.net", "current_password": PASSWORD},
        format="json",
        **bearer(tokens["access"]),
    )
    assert asked.status_code == 200
    change_link = link_token(outbox[-1])
    api.post("/api/auth/password/reset/", {"email": "alice@example.com"}, format="json")
    body = {"token": link_token(outbox[-1]), "password": "alice took her account back"}
    assert api.post("/api/auth/password/reset/confirm/", body, format="json").status_code == 200

    late = api.post("/api/auth/verify-email/", {"token": change_link}, format="json")
    assert late.status_code == 400
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_a_password_change_kills_a_pending_email_change(api, user, login, outbox):
    intruder = login(api).json()
    api.patch(
        "/api/auth/me/",
        {"email": "intruder@example.net", "current_password": PASSWORD},
        format="json",
        **bearer(intruder["access"]),
    )
    change_link = link_token(outbox[-1])
    owner = login(api).json()
    changed = api.post(
        "/api/auth/password/change/",
        {"current_password": PASSWORD, "new_password": "alice took her account back"},
        format="json",
        **bearer(owner["access"]),
    )
    assert changed.status_code == 200

    late = api.post("/api/auth/verify-email/", {"token": change_link}, format="json")
    assert late.status_code == 400
    user.refresh_from_db()
    assert user.email == "alice@example.com"
