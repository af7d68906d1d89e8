"""Operators: create tenants, edit roles, see everything in the Django admin."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from iam.accounts.models import User
from iam.tenancy.context import TenantRef
from iam.tenancy.middleware import requested_tenant
from iam.tenancy.models import Membership, Role, Tenant
from iam.tenancy.roles import DEFAULT_ROLES
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_default_roles_exist_with_their_permissions():
    for name, definition in DEFAULT_ROLES.items():
        role = Role.objects.get(name=name)
        assert role.rank == definition["rank"]
        assert role.permissions == sorted(definition["permissions"])
    ranks = [Role.objects.get(name=n).rank for n in ("owner", "admin", "member", "viewer")]
    assert ranks == sorted(ranks, reverse=True)


def test_sync_roles_restores_missing_roles_and_keeps_edits_unless_reset():
    Role.objects.filter(name="viewer").delete()
    Role.objects.filter(name="member").update(permissions=["tenant.read", "billing.read"])
    call_command("sync_roles", stdout=StringIO())
    assert Role.objects.filter(name="viewer").exists()
    assert "billing.read" in Role.objects.get(name="member").permissions
    call_command("sync_roles", "--reset", stdout=StringIO())
    assert "billing.read" not in Role.objects.get(name="member").permissions


def test_role_permissions_are_validated():
    role = Role(name="auditor", label="Auditor", rank=20, permissions=["audit.read", "audit.read"])
    role.full_clean()
    assert role.permissions == ["audit.read"]
    for bad in (["Audit Read"], "audit.read", [1], ["audit"]):
        with pytest.raises(ValidationError):
            Role(name="x", label="x", rank=1, permissions=bad).full_clean()


def test_create_tenant_command(user):
    out = StringIO()
    call_command(
        "create_tenant", "acme", "--name", "Acme", "--owner", "ALICE@example.com", stdout=out
    )
    tenant = Tenant.objects.get(slug="acme")
    assert Membership.objects.get(tenant=tenant, user=user).role.name == "owner"
    with pytest.raises(CommandError, match="No account"):
        call_command("create_tenant", "x", "--name", "X", "--owner", "nobody@example.com")
    with pytest.raises(CommandError):
        call_command("create_tenant", "acme", "--name", "Again", "--owner", "alice@example.com")


@pytest.mark.parametrize("url", ["tenant", "role", "membership", "invitation"])
def test_the_admin_shows_tenants_memberships_roles_and_invitations(client, url):
    admin = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    Membership.objects.create(tenant=tenant, user=admin, role=Role.objects.get(name="owner"))
    client.force_login(admin)
    listing = client.get(f"/admin/iam_tenancy/{url}/", secure=True)
    assert listing.status_code == 200
    assert client.get(f"/admin/iam_tenancy/{url}/add/", secure=True).status_code == 200


def test_request_tenant_of_a_public_request_comes_from_header_or_host(settings):
    settings.IAM_TENANT_BASE_DOMAIN = "login.example.com"
    settings.ALLOWED_HOSTS = [".login.example.com", ".acme.example", "testserver"]
    acme = Tenant.objects.create(name="Acme", slug="acme", domain="id.acme.example")
    factory = RequestFactory()
    expected = TenantRef(id=acme.pk, slug="acme")
    assert requested_tenant(factory.get("/", HTTP_X_TENANT="ACME")) == expected
    assert requested_tenant(factory.get("/", HTTP_HOST="acme.login.example.com")) == expected
    assert requested_tenant(factory.get("/", HTTP_HOST="id.acme.example")) == expected
    assert requested_tenant(factory.get("/", HTTP_HOST="nope.login.example.com")) is None
    assert requested_tenant(factory.get("/", HTTP_HOST="a.b.login.example.com")) is None
    assert requested_tenant(factory.get("/")) is None
    Tenant.objects.filter(pk=acme.pk).update(is_active=False)
    assert requested_tenant(factory.get("/", HTTP_X_TENANT="acme")) is None


def test_the_middleware_sets_request_tenant_lazily(client, django_assert_num_queries):
    Tenant.objects.create(name="Acme", slug="acme")
    with django_assert_num_queries(0):
        assert client.get("/healthz").status_code == 200  # nothing read it: no query


def test_removing_a_membership_in_the_admin_ends_its_sessions(api, keys):
    from tests.conftest import PASSWORD

    tenant = Tenant.objects.create(name="Acme", slug="acme")
    user = User.objects.create_user(email="m@example.com", password=PASSWORD, email_verified=True)
    membership = Membership.objects.create(
        tenant=tenant, user=user, role=Role.objects.get(name="member")
    )
    body = api.post(
        "/api/auth/login/",
        {"email": "m@example.com", "password": PASSWORD, "transport": "body"},
        format="json",
    ).json()
    membership.delete()  # what the admin's delete does
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.status_code == 401
