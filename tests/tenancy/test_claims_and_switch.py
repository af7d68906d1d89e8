"""Tenant claims follow memberships; the tenant is chosen at login or switched later."""

from __future__ import annotations

import pytest

from iam.audit.models import AuditEvent
from iam.tenancy.models import Membership, Role
from tests.conftest import PASSWORD, csrf_headers
from tests.tenancy.conftest import auth, claims

pytestmark = pytest.mark.django_db

TENANT_CLAIMS = {"tid", "tenant", "roles", "perms"}


def test_claims_match_the_membership(acme, make_member, signed_in):
    make_member("ann@example.com", acme, "admin")
    token = claims(signed_in("ann@example.com", tenant="acme"))
    assert token["tid"] == str(acme.pk)
    assert token["tenant"] == "acme"
    assert token["roles"] == ["admin"]
    assert token["perms"] == sorted(Role.objects.get(name="admin").permissions)
    assert token["is_staff"] is False


def test_a_user_without_a_tenant_gets_no_tenant_claims(make_member, signed_in):
    make_member("solo@example.com")
    token = claims(signed_in("solo@example.com"))
    assert TENANT_CLAIMS.isdisjoint(token)
    assert token["is_staff"] is False


def test_the_only_tenant_is_chosen_by_default_and_none_of_several(
    acme, globex, make_member, signed_in
):
    make_member("one@example.com", acme)
    assert claims(signed_in("one@example.com"))["tenant"] == "acme"
    make_member("two@example.com", acme)
    make_member("two@example.com", globex)
    assert TENANT_CLAIMS.isdisjoint(claims(signed_in("two@example.com")))


def test_the_default_tenant_counts_active_tenants_only(acme, globex, make_member, signed_in):
    make_member("both@example.com", acme)
    make_member("both@example.com", globex)
    globex.is_active = False
    globex.save()
    assert claims(signed_in("both@example.com"))["tenant"] == "acme"
    make_member("gone@example.com", globex)
    assert TENANT_CLAIMS.isdisjoint(claims(signed_in("gone@example.com")))


def test_login_for_a_tenant_one_is_not_a_member_of_is_403(api, acme, globex, make_member, keys):
    make_member("ann@example.com", acme)
    for slug in ("globex", "no-such-tenant"):  # unknown and foreign look the same
        response = api.post(
            "/api/auth/login/",
            {"email": "ann@example.com", "password": PASSWORD, "tenant": slug},
            format="json",
        )
        assert response.status_code == 403
        assert response.json()["code"] == "not_a_member"
    assert (
        AuditEvent.objects.filter(type="user:login:failed", data__reason="not_a_member").count()
        == 2
    )


def test_a_wrong_password_never_reveals_memberships(api, acme, make_member, keys):
    make_member("ann@example.com", acme)
    for slug in ("acme", "globex"):
        response = api.post(
            "/api/auth/login/",
            {"email": "ann@example.com", "password": "wrong password!", "tenant": slug},
            format="json",
        )
        assert response.json()["code"] == "invalid_credentials"


def test_the_tenant_can_come_from_the_x_tenant_header(acme, globex, make_member, signed_in):
    make_member("two@example.com", acme)
    make_member("two@example.com", globex)
    token = claims(signed_in("two@example.com", HTTP_X_TENANT="globex"))
    assert token["tenant"] == "globex"


def test_the_tenant_can_come_from_the_sub_domain(acme, globex, make_member, signed_in, settings):
    settings.IAM_TENANT_BASE_DOMAIN = "login.example.com"
    settings.ALLOWED_HOSTS = [".login.example.com", "testserver"]
    make_member("two@example.com", acme)
    make_member("two@example.com", globex)
    token = claims(signed_in("two@example.com", HTTP_HOST="globex.login.example.com"))
    assert token["tenant"] == "globex"


def test_a_header_naming_another_tenant_than_the_token_is_refused(
    api, acme, globex, make_member, signed_in
):
    make_member("ann@example.com", acme)
    headers = signed_in("ann@example.com", tenant="acme")
    assert api.get("/api/auth/me/", **auth(headers), HTTP_X_TENANT="acme").status_code == 200
    response = api.get("/api/auth/me/", **auth(headers), HTTP_X_TENANT="globex")
    assert response.status_code == 403
    assert response.json()["code"] == "tenant_mismatch"


def test_switch_answers_with_new_tokens_for_the_same_session(
    api, acme, globex, make_member, signed_in
):
    make_member("two@example.com", acme, "viewer")
    make_member("two@example.com", globex, "owner")
    headers = signed_in("two@example.com", tenant="acme")
    response = api.post(
        "/api/auth/tenant/switch/", {"tenant": "globex"}, format="json", **auth(headers)
    )
    assert response.status_code == 200, response.content
    switched = response.json()
    new = claims({"HTTP_AUTHORIZATION": f"Bearer {switched['access']}"})
    old = claims(headers)
    assert new["sid"] == old["sid"]
    assert (new["tenant"], new["roles"]) == ("globex", ["owner"])
    # the new refresh token keeps the new tenant
    refreshed = api.post("/api/auth/refresh/", {"refresh": switched["refresh"]}, format="json")
    assert (
        claims({"HTTP_AUTHORIZATION": f"Bearer {refreshed.json()['access']}"})["tenant"] == "globex"
    )
    assert AuditEvent.objects.filter(type="session:tenant:switched").exists()


def test_switch_only_to_a_tenant_of_ones_own(api, acme, globex, make_member, signed_in):
    make_member("ann@example.com", acme)
    headers = signed_in("ann@example.com")
    for slug in ("globex", "nope"):
        response = api.post(
            "/api/auth/tenant/switch/", {"tenant": slug}, format="json", **auth(headers)
        )
        assert response.status_code == 403
        assert response.json()["code"] == "not_a_member"
    assert (
        api.post("/api/auth/tenant/switch/", {"tenant": "acme"}, format="json").status_code == 401
    )


def test_switch_by_cookie_needs_csrf_and_answers_by_cookie(
    browser, acme, globex, make_member, keys
):
    make_member("two@example.com", acme)
    make_member("two@example.com", globex)
    browser.post(
        "/api/auth/login/",
        {"email": "two@example.com", "password": PASSWORD, "tenant": "acme"},
        format="json",
    )
    assert (
        browser.post("/api/auth/tenant/switch/", {"tenant": "globex"}, format="json").status_code
        == 403
    )
    response = browser.post(
        "/api/auth/tenant/switch/", {"tenant": "globex"}, format="json", **csrf_headers(browser)
    )
    assert response.status_code == 200
    assert "access" not in response.json()
    new_access = response.cookies["access_token"].value
    assert claims({"HTTP_AUTHORIZATION": f"Bearer {new_access}"})["tenant"] == "globex"


def test_a_role_change_shows_in_the_next_refresh(api, acme, make_member, signed_in):
    ann = make_member("ann@example.com", acme, "member")
    headers = signed_in("ann@example.com")
    Membership.objects.filter(user=ann).update(role=Role.objects.get(name="admin"))
    refreshed = api.post("/api/auth/refresh/", {"refresh": headers["refresh"]}, format="json")
    assert claims({"HTTP_AUTHORIZATION": f"Bearer {refreshed.json()['access']}"})["roles"] == [
        "admin"
    ]


def test_a_removed_membership_makes_the_refresh_for_that_tenant_fail(
    api, acme, make_member, signed_in
):
    ann = make_member("ann@example.com", acme)
    headers = signed_in("ann@example.com")
    Membership.objects.filter(user=ann).delete()  # even behind the services' back
    refreshed = api.post("/api/auth/refresh/", {"refresh": headers["refresh"]}, format="json")
    assert refreshed.status_code == 401
    assert refreshed.json()["code"] == "session_revoked"
    assert api.get("/api/auth/me/", **auth(headers)).status_code == 401


def test_my_tenants_lists_memberships_and_marks_the_current_one(
    api, acme, globex, make_member, signed_in
):
    make_member("two@example.com", acme, "viewer")
    make_member("two@example.com", globex, "admin")
    body = api.get("/api/tenants/", **auth(signed_in("two@example.com", tenant="globex"))).json()
    assert [(t["slug"], t["role"], t["current"]) for t in body] == [
        ("acme", "viewer", False),
        ("globex", "admin", True),
    ]
