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


# A tenant's own domain: asked with the sign-in's facts under the row lock, not by a statement
# of its own before it; the answers must be the ones a separate lookup gave.


def tenant_claim(response):
    assert response.status_code == 200, response.content
    return claims({"HTTP_AUTHORIZATION": f"Bearer {response.json()['access']}"})["tenant"]


@pytest.fixture
def own_domain(acme, globex, settings):
    settings.ALLOWED_HOSTS = ["id.acme.example", "testserver", "elsewhere.example"]
    Tenant.objects.filter(pk=acme.pk).update(domain="id.acme.example")


@pytest.mark.parametrize("host", ["id.acme.example", "ID.Acme.Example:8443"])
def test_a_sign_in_at_a_tenants_own_domain_is_scoped_to_it(
    api, acme, globex, make_member, keys, own_domain, host
):
    make_member("two@example.com", acme)
    make_member("two@example.com", globex)  # two tenants: no default one
    response = login(api, "two@example.com", HTTP_HOST=host)
    assert tenant_claim(response) == "acme"


def test_a_sign_in_at_the_own_domain_of_a_tenant_one_is_not_a_member_of_is_403(
    api, acme, globex, make_member, keys, own_domain
):
    from iam.audit.models import AuditEvent
    from iam.sessions.models import DeviceSession

    make_member("ann@example.com", globex)  # her only tenant: the default elsewhere
    response = login(api, "ann@example.com", HTTP_HOST="id.acme.example")
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"
    assert not DeviceSession.objects.exists()
    failed = AuditEvent.objects.get(type="user:login:failed")
    assert failed.data["reason"] == "not_a_member"
    # the same account elsewhere gets its only tenant
    response = login(api, "ann@example.com", HTTP_HOST="elsewhere.example")
    assert tenant_claim(response) == "globex"


def test_the_own_domain_of_an_inactive_tenant_names_none(
    api, acme, globex, make_member, keys, own_domain
):
    """As before the lookup moved: an inactive tenant's domain is just a host, and the user
    gets their only tenant."""
    Tenant.objects.filter(pk=acme.pk).update(is_active=False)
    make_member("ann@example.com", globex)
    response = login(api, "ann@example.com", HTTP_HOST="id.acme.example")
    assert tenant_claim(response) == "globex"


def test_the_body_and_x_tenant_win_over_the_own_domain(
    api, acme, globex, make_member, keys, own_domain
):
    make_member("two@example.com", acme)
    make_member("two@example.com", globex)
    body = {"email": "two@example.com", "password": PASSWORD, "transport": "body"}
    by_body = api.post(
        "/api/auth/login/", {**body, "tenant": "globex"}, format="json", HTTP_HOST="id.acme.example"
    )
    by_header = login(api, "two@example.com", HTTP_HOST="id.acme.example", HTTP_X_TENANT="globex")
    assert tenant_claim(by_body) == tenant_claim(by_header) == "globex"


def test_the_simplejwt_compatible_sign_in_honours_the_own_domain(
    api, acme, globex, make_member, keys, own_domain
):
    make_member("two@example.com", acme)
    make_member("two@example.com", globex)
    response = api.post(
        "/api/token/",
        {"email": "two@example.com", "password": PASSWORD},
        format="json",
        HTTP_HOST="id.acme.example",
    )
    assert tenant_claim(response) == "acme"


def test_a_sign_in_at_the_own_domain_with_mfa_keeps_the_tenant_for_the_second_step(
    api, acme, globex, make_member, keys, own_domain
):
    import time

    import time_machine

    from tests.mfa.conftest import enrol

    make_member("two@example.com", acme)
    make_member("two@example.com", globex)
    app, _ = enrol(api, login(api, "two@example.com").json()["access"])
    with time_machine.travel(time.time() + 30, tick=False):  # the enrolment code is spent
        first = login(api, "two@example.com", HTTP_HOST="id.acme.example")
        assert first.status_code == 200
        assert first.json()["mfa_required"] is True
        second = api.post(
            "/api/auth/login/mfa/",
            {"mfa_token": first.json()["mfa_token"], "code": app.now()},
            format="json",
        )
    assert tenant_claim(second) == "acme"
