"""GET /api/tenant/roles/: the roles a member can hold, read only, for any member of a tenant."""

from __future__ import annotations

import pytest

from tests.tenancy.conftest import auth

pytestmark = pytest.mark.django_db


def test_a_viewer_reads_every_role_highest_rank_first(api, acme, make_member, signed_in):
    make_member("vic@example.com", acme, "viewer")
    response = api.get("/api/tenant/roles/", **auth(signed_in("vic@example.com")))
    assert response.status_code == 200
    roles = response.json()
    assert [r["name"] for r in roles] == ["owner", "admin", "member", "viewer"]
    assert [r["rank"] for r in roles] == sorted((r["rank"] for r in roles), reverse=True)
    assert "members.manage" in roles[0]["permissions"]
    assert response["Cache-Control"].startswith("max-age=0")


def test_without_a_tenant_scoped_token_it_is_refused(api, make_member, signed_in):
    make_member("loner@example.com")
    response = api.get("/api/tenant/roles/", **auth(signed_in("loner@example.com")))
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"


def test_it_is_read_only(api, acme, make_member, signed_in):
    make_member("olga@example.com", acme, "owner")
    headers = auth(signed_in("olga@example.com"))
    response = api.post("/api/tenant/roles/", {"name": "god"}, format="json", **headers)
    assert response.status_code == 405
