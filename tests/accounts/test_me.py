"""GET /api/auth/me/: the user and the authorization context of the request's access token."""

from __future__ import annotations

import pytest

from iam.accounts.models import User
from iam.accounts.serializers import MeSerializer, UserSerializer, me_data
from iam.sessions import auth_state
from iam.tenancy.models import Membership, Role, Tenant
from tests.conftest import bearer

pytestmark = pytest.mark.django_db

USER_FIELDS = {
    "id",
    "email",
    "username",
    "name",
    "email_verified",
    "pending_email",
    "is_staff",
    "created_at",
    "last_login",
}


@pytest.fixture
def acme(user):
    tenant = Tenant.objects.create(name="Acme", slug="acme")
    Membership.objects.create(tenant=tenant, user=user, role=Role.objects.get(name="admin"))
    return tenant


def signed_in(response):
    """The bearer headers of a body-transport login's answer."""
    assert response.status_code == 200, response.content
    return bearer(response.json()["access"])


def test_without_a_tenant(api, user, login):
    me = api.get("/api/auth/me/", **signed_in(login(api)))
    assert me.status_code == 200
    body = me.json()
    assert set(body) == USER_FIELDS | {"tenant", "roles", "perms"}
    assert body["tenant"] is None
    assert body["roles"] == []
    assert body["perms"] == []
    assert body["is_staff"] is False
    assert body["id"] == str(user.pk)
    assert body["email"] == user.email


def test_with_a_tenant(api, user, login, acme):
    me = api.get("/api/auth/me/", **signed_in(login(api, tenant="acme"))).json()
    assert me["tenant"] == {"id": str(acme.pk), "slug": "acme"}
    assert me["roles"] == ["admin"]
    assert me["perms"] == sorted(Role.objects.get(name="admin").permissions)
    assert set(me) == USER_FIELDS | {"tenant", "roles", "perms"}


def test_staff_shows_as_is_staff(api, user, login):
    user.is_staff = True
    user.save()
    assert api.get("/api/auth/me/", **signed_in(login(api))).json()["is_staff"] is True


def test_roles_come_from_the_token_not_from_the_database(api, user, login, acme):
    """The context is the token's: a role change shows with the next token (a refresh), like in
    every service that reads the claims, and /me needs no query to say it."""
    tokens = login(api, tenant="acme").json()
    headers = bearer(tokens["access"])
    Membership.objects.filter(user=user).update(role=Role.objects.get(name="viewer"))
    assert api.get("/api/auth/me/", **headers).json()["roles"] == ["admin"]
    refreshed = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    after = api.get("/api/auth/me/", **signed_in(refreshed)).json()
    assert after["roles"] == ["viewer"]
    assert after["perms"] == ["tenant.read"]


@pytest.mark.parametrize("tenant", [None, "acme"])
def test_the_context_costs_no_query(api, user, login, acme, tenant, django_assert_num_queries):
    """/me is on a benchmarked hot path: with a tenant or without, it costs the session check
    alone, one statement (none when the shared cache holds the session's state); the warm-up
    request loads the keys and caches the signature check."""
    headers = signed_in(login(api, tenant=tenant))
    api.get("/api/auth/me/", **headers)
    with django_assert_num_queries(0 if auth_state.enabled() else 1):
        assert api.get("/api/auth/me/", **headers).status_code == 200


def test_profile_update_answers_with_the_same_shape(api, user, login, acme):
    headers = signed_in(login(api, tenant="acme"))
    patched = api.patch("/api/auth/me/", {"name": "Alice A."}, format="json", **headers)
    assert patched.status_code == 200
    assert patched.json() == api.get("/api/auth/me/", **headers).json()
    assert patched.json()["name"] == "Alice A."


def test_the_login_response_user_keeps_its_shape(api, user, login, acme):
    """The context belongs to the session's token, not to the user: the login's ``user`` stays
    the user object (its tenant comes with the tokens)."""
    assert set(login(api, tenant="acme").json()["user"]) == USER_FIELDS
    assert set(UserSerializer.Meta.fields) == USER_FIELDS


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"tid": "6b0f3f8e-3a57-4c1e-9b8e-1f0c7f0f2a11", "tenant": "acme", "roles": ["owner"],
         "perms": ["a.b", "c.d"]},
    ],
)  # fmt: skip
def test_fast_rendering_matches_the_schema_serializer(claims):
    user = User.objects.create_user(email="s@example.com", username="s")
    user.refresh_from_db()
    fast = me_data(user, claims)
    for name in ("tenant", "roles", "perms"):
        setattr(user, name, fast[name])
    assert fast == MeSerializer(user).data
