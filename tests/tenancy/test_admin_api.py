"""Tenant administration: members and roles, with the rank rules and cross-tenant attacks."""

from __future__ import annotations

import pytest

from iam.audit.models import AuditEvent
from iam.tenancy.models import Invitation, Membership, Role
from tests.tenancy.conftest import auth

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(acme, globex, make_member):
    """acme: owner olga, admin adam, member mia, viewer vic; globex: owner gus (and mia)."""
    people = {
        "olga": make_member("olga@example.com", acme, "owner"),
        "adam": make_member("adam@example.com", acme, "admin"),
        "mia": make_member("mia@example.com", acme, "member"),
        "vic": make_member("vic@example.com", acme, "viewer"),
        "gus": make_member("gus@example.com", globex, "owner"),
    }
    Membership.objects.create(
        tenant=globex, user=people["mia"], role=Role.objects.get(name="member")
    )
    return people


def role_of(user, tenant):
    return Membership.objects.get(user=user, tenant=tenant).role.name


def test_members_list_is_the_requests_tenant_only(api, team, signed_in):
    body = api.get("/api/tenant/members/", **auth(signed_in("adam@example.com"))).json()
    assert [m["email"] for m in body] == [
        "olga@example.com",
        "adam@example.com",
        "mia@example.com",
        "vic@example.com",
    ]
    assert "gus@example.com" not in str(body)
    assert set(body[0]) == {"user_id", "email", "username", "name", "role", "joined_at"}


def test_a_viewer_cannot_list_members_and_no_tenant_means_no_access(api, team, signed_in):
    response = api.get("/api/tenant/members/", **auth(signed_in("vic@example.com")))
    assert response.status_code == 403
    assert response.json()["code"] == "missing_permission"
    mia = signed_in("mia@example.com")  # two tenants: no tenant chosen
    response = api.get("/api/tenant/members/", **auth(mia))
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"


def test_current_tenant(api, team, acme, signed_in):
    body = api.get("/api/tenant/", **auth(signed_in("vic@example.com"))).json()
    assert (body["id"], body["slug"], body["roles"]) == (str(acme.pk), "acme", ["viewer"])


def test_an_admin_changes_roles_up_to_their_own(api, team, acme, signed_in):
    adam = auth(signed_in("adam@example.com"))
    url = f"/api/tenant/members/{team['mia'].pk}/"
    response = api.patch(url, {"role": "admin"}, format="json", **adam)
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert role_of(team["mia"], acme) == "admin"
    above = api.patch(url, {"role": "owner"}, format="json", **adam)
    assert above.status_code == 403
    assert above.json()["code"] == "role_above_own"
    # nor touch someone ranked above them
    demote_owner = api.patch(
        f"/api/tenant/members/{team['olga'].pk}/", {"role": "viewer"}, format="json", **adam
    )
    assert demote_owner.json()["code"] == "role_above_own"
    assert role_of(team["olga"], acme) == "owner"
    event = AuditEvent.objects.get(type="tenant:member:role_changed")
    assert event.user_id == team["adam"].pk
    assert event.data["role"] == "admin"
    assert event.data["previous"] == "member"


def test_a_member_cannot_change_roles(api, team, signed_in):
    response = api.patch(
        f"/api/tenant/members/{team['vic'].pk}/",
        {"role": "member"},
        format="json",
        **auth(signed_in("mia@example.com", tenant="acme")),
    )
    assert response.status_code == 403


def test_a_stale_token_does_not_keep_powers_that_were_taken_away(api, team, acme, signed_in):
    adam = auth(signed_in("adam@example.com"))
    Membership.objects.filter(user=team["adam"], tenant=acme).update(
        role=Role.objects.get(name="viewer")
    )  # the token still says admin; the service reads the database
    response = api.patch(
        f"/api/tenant/members/{team['mia'].pk}/", {"role": "viewer"}, format="json", **adam
    )
    assert response.status_code == 403
    assert role_of(team["mia"], acme) == "member"


def test_the_last_owner_cannot_leave_or_be_demoted(api, team, acme, signed_in):
    olga = auth(signed_in("olga@example.com"))
    own = f"/api/tenant/members/{team['olga'].pk}/"
    demote = api.patch(own, {"role": "admin"}, format="json", **olga)
    assert demote.status_code == 409
    assert demote.json()["code"] == "last_owner"
    leave = api.delete(own, **olga)
    assert leave.status_code == 409
    # with a second owner both work
    api.patch(f"/api/tenant/members/{team['adam'].pk}/", {"role": "owner"}, format="json", **olga)
    assert api.patch(own, {"role": "admin"}, format="json", **olga).status_code == 200


def test_removing_a_member_ends_their_sessions_in_that_tenant_only(api, team, acme, signed_in):
    mia_acme = signed_in("mia@example.com", tenant="acme")
    mia_globex = signed_in("mia@example.com", tenant="globex")
    response = api.delete(
        f"/api/tenant/members/{team['mia'].pk}/", **auth(signed_in("adam@example.com"))
    )
    assert response.status_code == 204
    assert not Membership.objects.filter(user=team["mia"], tenant=acme).exists()
    assert api.get("/api/auth/me/", **auth(mia_acme)).status_code == 401
    refresh = api.post("/api/auth/refresh/", {"refresh": mia_acme["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert api.get("/api/auth/me/", **auth(mia_globex)).status_code == 200
    event = AuditEvent.objects.get(type="tenant:member:removed")
    assert event.user_id == team["adam"].pk


def test_any_member_can_leave(api, team, acme, signed_in):
    vic = auth(signed_in("vic@example.com"))
    assert api.delete(f"/api/tenant/members/{team['vic'].pk}/", **vic).status_code == 204
    assert AuditEvent.objects.filter(type="tenant:member:left").exists()
    # ... but a viewer cannot remove anyone else
    mia = auth(signed_in("mia@example.com", tenant="acme"))
    response = api.delete(f"/api/tenant/members/{team['olga'].pk}/", **mia)
    assert response.status_code == 403


def test_unknown_roles_and_members(api, team, signed_in):
    adam = auth(signed_in("adam@example.com"))
    url = f"/api/tenant/members/{team['mia'].pk}/"
    assert api.patch(url, {"role": "emperor"}, format="json", **adam).json()["code"] == (
        "unknown_role"
    )
    assert api.patch(url, {"role": ["x"]}, format="json", **adam).status_code == 400
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = api.patch(
            f"/api/tenant/members/{bad}/", {"role": "viewer"}, format="json", **adam
        )
        assert response.status_code == 404


# --- cross-tenant attacks: an admin of acme against globex ---------------------------------


def test_an_admin_cannot_read_or_change_another_tenants_members(api, team, globex, signed_in):
    adam = auth(signed_in("adam@example.com"))
    gus_url = f"/api/tenant/members/{team['gus'].pk}/"
    assert api.patch(gus_url, {"role": "viewer"}, format="json", **adam).status_code == 404
    assert api.delete(gus_url, **adam).status_code == 404
    assert role_of(team["gus"], globex) == "owner"
    # a header naming globex does not move the request there
    response = api.get("/api/tenant/members/", **adam, HTTP_X_TENANT="globex")
    assert response.status_code == 403
    # nor does a body field
    api.post(
        "/api/tenant/invitations/",
        {"email": "x@example.com", "tenant": str(globex.pk), "tenant_id": str(globex.pk)},
        format="json",
        **adam,
    )
    assert not Invitation.objects.filter(tenant=globex).exists()


def test_a_member_of_two_tenants_acts_only_in_the_tokens_tenant(api, team, acme, globex, signed_in):
    """mia is a member of both; with an acme token, the shared user id must not reach globex."""
    Membership.objects.filter(user=team["mia"], tenant=acme).update(
        role=Role.objects.get(name="admin")
    )
    mia_acme = auth(signed_in("mia@example.com", tenant="acme"))
    gus_url = f"/api/tenant/members/{team['gus'].pk}/"
    assert api.delete(gus_url, **mia_acme).status_code == 404
    assert Membership.objects.filter(user=team["gus"], tenant=globex).exists()


def test_invitations_of_another_tenant_cannot_be_listed_or_revoked(
    api, team, globex, signed_in, outbox
):
    gus = auth(signed_in("gus@example.com"))
    created = api.post(
        "/api/tenant/invitations/", {"email": "new@example.com"}, format="json", **gus
    )
    assert created.status_code == 201
    adam = auth(signed_in("adam@example.com"))
    assert api.get("/api/tenant/invitations/", **adam).json() == []
    response = api.delete(f"/api/tenant/invitations/{created.json()['id']}/", **adam)
    assert response.status_code == 404
    assert Invitation.objects.get(pk=created.json()["id"]).revoked_at is None


def test_for_tenant_scoping_is_empty_without_a_tenant(team, acme):
    assert Membership.objects.for_tenant(None).count() == 0
    assert Membership.objects.for_tenant(acme).count() == 4
    assert Membership.objects.for_tenant(acme.pk).count() == 4


def test_the_last_owner_cannot_delete_their_account(api, team, acme, signed_in):
    from tests.conftest import PASSWORD

    olga = auth(signed_in("olga@example.com"))
    response = api.delete("/api/auth/me/", {"password": PASSWORD}, format="json", **olga)
    assert response.status_code == 409
    assert response.json()["code"] == "last_owner"
    team["olga"].refresh_from_db()
    assert team["olga"].is_active
    assert role_of(team["olga"], acme) == "owner"


def test_deactivating_a_tenant_ends_its_sessions(api, team, acme, signed_in):
    adam = signed_in("adam@example.com")
    acme.is_active = False
    acme.save()  # the admin's way: a save, which ends the tenant's sessions
    assert api.get("/api/auth/me/", **auth(adam)).status_code == 401
    refresh = api.post("/api/auth/refresh/", {"refresh": adam["refresh"]}, format="json")
    assert refresh.status_code == 401
