"""Review: access tokens scoped to a tenant outlive the user's removal from it, or the tenant."""

from __future__ import annotations

import pytest

from iam.audit.models import AuditEvent
from iam.core.http import NO_CLIENT
from iam.oauth.services import token_introspect
from iam.sessions import tenants
from iam.sessions.models import DeviceSession
from iam.tenancy import selectors, services
from iam.tenancy.models import Membership, Tenant
from tests.tenancy.conftest import auth, claims

pytestmark = pytest.mark.django_db

NOWHERE = NO_CLIENT


@pytest.fixture
def mia_in_two(acme, globex, make_member):
    make_member("olga@example.com", acme, "owner")
    mia = make_member("mia@example.com", acme, "member")
    make_member("mia@example.com", globex, "member")
    return mia


def test_removal_refuses_an_acme_token_whose_session_switched_away(
    api, acme, mia_in_two, signed_in
):
    """docs/jwt-contract.md "Tenant claims" and docs/api.md DELETE member: removing a member
    makes "the IAM refuse their access tokens". Revocation only hits sessions whose *current*
    tenant is acme, so an acme token minted before a switch to globex keeps working (and is
    reported active with acme claims by introspection) for the rest of its lifetime."""
    mia_acme = signed_in("mia@example.com", tenant="acme")
    switched = api.post(
        "/api/auth/tenant/switch/", {"tenant": "globex"}, format="json", **auth(mia_acme)
    )
    assert switched.status_code == 200
    olga = auth(signed_in("olga@example.com"))
    assert api.delete(f"/api/tenant/members/{mia_in_two.pk}/", **olga).status_code == 204

    refused = api.get("/api/tenant/members/", **auth(mia_acme))
    assert (refused.status_code, refused.json()["code"]) == (401, "token_not_valid")
    assert token_introspect(raw=mia_acme["HTTP_AUTHORIZATION"][7:])["active"] is False


def test_a_switch_racing_a_removal_issues_no_token_for_the_lost_tenant(
    api, acme, globex, mia_in_two, signed_in, monkeypatch
):
    """session_switch_tenant reads the membership before (and outside) the transaction that
    re-scopes the session and never re-checks it; a removal landing in between revokes nothing
    (the session is still scoped to globex) and the switch then hands out an acme token."""
    mia_globex = signed_in("mia@example.com", tenant="globex")
    olga = Membership.objects.get(tenant=acme, role__name="owner").user
    real = selectors.membership_get_by_slug

    def read_then_removed(**kwargs):
        found = real(**kwargs)
        services.member_remove(actor=olga, tenant_id=acme.pk, user_id=mia_in_two.pk, client=NOWHERE)
        return found

    monkeypatch.setattr(tenants, "membership_get_by_slug", read_then_removed)
    response = api.post(
        "/api/auth/tenant/switch/", {"tenant": "acme"}, format="json", **auth(mia_globex)
    )
    assert not Membership.objects.filter(tenant=acme, user=mia_in_two).exists()
    # fixed: the switch re-checks the membership under the session's row lock
    assert (response.status_code, response.json()["code"]) == (403, "not_a_member")
    session = DeviceSession.objects.get(pk=claims(mia_globex)["sid"])
    assert session.tenant_id == globex.pk  # still scoped to globex; no acme token was made
    assert not AuditEvent.objects.filter(type="session:tenant:switched").exists()
    assert api.get("/api/tenant/", **auth(mia_globex)).json()["slug"] == "globex"


def test_deactivating_a_tenant_cuts_its_tokens_at_the_iam(api, acme, make_member, signed_in):
    """Deactivation makes the next refresh fail, but the IAM keeps serving tenant-scoped reads
    (members, invitations, GET /api/tenant/) and introspection keeps answering active with the
    dead tenant's claims for the rest of the access token's lifetime. Nothing documents it."""
    make_member("adam@example.com", acme, "admin")
    adam = signed_in("adam@example.com")
    Tenant.objects.filter(pk=acme.pk).update(is_active=False)
    refused = api.get("/api/tenant/members/", **auth(adam))
    assert (refused.status_code, refused.json()["code"]) == (403, "not_a_member")
    assert token_introspect(raw=adam["HTTP_AUTHORIZATION"][7:])["active"] is False
