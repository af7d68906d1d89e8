"""Review: the tenant a sign-in asks for through X-Tenant."""

from __future__ import annotations

import pytest

from iam.tenancy.models import Tenant
from tests.conftest import PASSWORD
from tests.tenancy.conftest import claims

pytestmark = pytest.mark.django_db


def login(api, email, **extra):
    body = {"email": email, "password": PASSWORD, "transport": "body"}
    return api.post("/api/auth/login/", body, format="json", **extra)


@pytest.mark.parametrize("slug", ["no-such-tenant", "globex"])
def test_x_tenant_naming_an_unknown_or_inactive_tenant_is_403(
    api, acme, globex, make_member, keys, slug
):
    """docs/api.md login: "A tenant the user is not a member of, or that does not exist, is 403
    not_a_member". Through the body that holds; through X-Tenant an unknown or deactivated
    tenant is silently ignored (requested_tenant() -> None) and the user gets their default
    tenant instead of the one asked for, while an existing foreign tenant is 403."""
    make_member("ann@example.com", acme)
    make_member("ann@example.com", globex)
    Tenant.objects.filter(pk=globex.pk).update(is_active=False)
    response = login(api, "ann@example.com", HTTP_X_TENANT=slug)
    assert response.status_code == 403, claims(
        {"HTTP_AUTHORIZATION": f"Bearer {response.json().get('access')}"}
    ).get("tenant")
    assert response.json()["code"] == "not_a_member"


def test_a_nul_byte_in_x_tenant_is_not_a_500(api, acme, make_member, keys):
    """middleware.requested_tenant passes the raw header to a query: on PostgreSQL a NUL byte
    raises DataError -> 500 (SQLite just finds nothing)."""
    make_member("ann@example.com", acme)
    response = login(api, "ann@example.com", HTTP_X_TENANT="ac\x00me")
    assert response.status_code < 500


def test_the_simplejwt_compatible_sign_in_honours_x_tenant(api, acme, globex, make_member, keys):
    """The issue: the tenant at sign-in is resolved from X-Tenant or the sub-domain.
    CompatTokenObtainApi never passes tenant_requested, so a user of two tenants gets an
    unscoped token from POST /api/token/ whatever X-Tenant says."""
    make_member("ann@example.com", acme)
    make_member("ann@example.com", globex)
    response = api.post(
        "/api/token/",
        {"email": "ann@example.com", "password": PASSWORD},
        format="json",
        HTTP_X_TENANT="acme",
    )
    assert response.status_code == 200
    assert claims({"HTTP_AUTHORIZATION": f"Bearer {response.json()['access']}"}).get("tenant") == (
        "acme"
    )
