"""Invitations: invite by e-mail, accept after signing in or registering, single use."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.tenancy.models import Invitation, Membership
from tests.conftest import PASSWORD, link_token
from tests.tenancy.conftest import auth, claims

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_headers(acme, make_member, signed_in):
    make_member("adam@example.com", acme, "admin")
    return auth(signed_in("adam@example.com"))


def invite(api, headers, email="new@example.com", **body):
    return api.post("/api/tenant/invitations/", {"email": email, **body}, format="json", **headers)


def accept(api, headers, token):
    return api.post("/api/tenant/invitations/accept/", {"token": token}, format="json", **headers)


def test_invite_then_register_verify_accept_and_switch(api, acme, admin_headers, outbox, signed_in):
    response = invite(api, admin_headers, role="viewer")
    assert response.status_code == 201
    assert response.json()["role"] == "viewer"
    [mail] = outbox
    assert mail.to == ["new@example.com"]
    assert "Acme" in mail.subject
    assert "https://app.iam.test/invitations/accept?token=" in mail.body
    token = link_token(mail)

    # the invitee registers with the invited address and verifies it
    api.post(
        "/api/auth/register/", {"email": "new@example.com", "password": PASSWORD}, format="json"
    )
    api.post("/api/auth/verify-email/", {"token": link_token(outbox[-1])}, format="json")
    headers = signed_in("new@example.com")
    accepted = accept(api, auth(headers), token)
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["slug"] == "acme"
    assert accepted.json()["role"] == "viewer"
    new = User.objects.get(email="new@example.com")
    assert Membership.objects.get(user=new, tenant=acme).role.name == "viewer"
    switched = api.post(
        "/api/auth/tenant/switch/", {"tenant": "acme"}, format="json", **auth(headers)
    ).json()
    assert claims({"HTTP_AUTHORIZATION": f"Bearer {switched['access']}"})["roles"] == ["viewer"]
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert {"tenant:invitation:created", "tenant:invitation:accepted"} <= types


def test_an_invitation_works_once(api, acme, admin_headers, outbox, make_member, signed_in):
    invite(api, admin_headers)
    token = link_token(outbox[0])
    make_member("new@example.com")
    headers = auth(signed_in("new@example.com"))
    assert accept(api, headers, token).status_code == 200
    again = accept(api, headers, token)
    assert again.status_code == 400
    assert again.json()["code"] == "token_used"


def test_only_the_invited_address_can_accept(api, admin_headers, outbox, make_member, signed_in):
    invite(api, admin_headers)
    make_member("mallory@example.com")
    response = accept(api, auth(signed_in("mallory@example.com")), link_token(outbox[0]))
    assert response.status_code == 403
    assert response.json()["code"] == "invitation_email_mismatch"
    assert not Membership.objects.filter(user__email="mallory@example.com").exists()


def test_an_invitation_expires(api, admin_headers, outbox, make_member, signed_in):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        invite(api, admin_headers)
        token = link_token(outbox[0])
        make_member("new@example.com")
        clock.shift(7 * 24 * 3600 + 1)
        response = accept(api, auth(signed_in("new@example.com")), token)
    assert response.status_code == 400
    assert response.json()["code"] == "token_expired"


def test_a_revoked_or_replaced_invitation_cannot_be_accepted(
    api, admin_headers, outbox, make_member, signed_in
):
    first = invite(api, admin_headers).json()
    first_token = link_token(outbox[-1])
    invite(api, admin_headers)  # a new invitation replaces the open one
    second_token = link_token(outbox[-1])
    make_member("new@example.com")
    headers = auth(signed_in("new@example.com"))
    assert accept(api, headers, first_token).json()["code"] == "token_used"
    open_ones = api.get("/api/tenant/invitations/", **admin_headers).json()
    assert len(open_ones) == 1
    assert open_ones[0]["id"] != first["id"]
    revoked = api.delete(f"/api/tenant/invitations/{open_ones[0]['id']}/", **admin_headers)
    assert revoked.status_code == 204
    assert accept(api, headers, second_token).json()["code"] == "token_used"


@pytest.mark.parametrize("token", ["", "garbage", "a:b:c", "x" * 1000])
def test_bad_tokens_are_refused(api, make_member, signed_in, keys, token):
    make_member("new@example.com")
    response = accept(api, auth(signed_in("new@example.com")), token)
    assert response.status_code == 400
    assert response.json()["code"] in {"token_invalid", "invalid"}


def test_an_admin_cannot_invite_above_their_own_role(api, admin_headers, outbox):
    response = invite(api, admin_headers, role="owner")
    assert response.status_code == 403
    assert response.json()["code"] == "role_above_own"
    assert outbox == []
    assert not Invitation.objects.exists()


def test_inviting_a_member_is_a_conflict(api, acme, admin_headers, make_member):
    make_member("mia@example.com", acme)
    response = invite(api, admin_headers, email="MIA@example.com")
    assert response.status_code == 409
    assert response.json()["code"] == "already_member"


def test_a_member_without_invite_permission_cannot_invite(api, acme, make_member, signed_in):
    make_member("mia@example.com", acme, "member")
    response = invite(api, auth(signed_in("mia@example.com")))
    assert response.status_code == 403
    assert response.json()["code"] == "missing_permission"


def test_invitation_mail_over_a_real_smtp_server(
    api, acme, admin_headers, make_member, signed_in, smtp_inbox
):
    assert invite(api, admin_headers).status_code == 201
    [envelope] = smtp_inbox.envelopes
    assert envelope.rcpt_tos == ["new@example.com"]
    [mail] = smtp_inbox.text_bodies()
    make_member("new@example.com")
    response = accept(api, auth(signed_in("new@example.com")), link_token(mail))
    assert response.status_code == 200
    assert Membership.objects.filter(user__email="new@example.com", tenant=acme).exists()
