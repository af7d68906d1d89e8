"""Review: a deleted account keeps its memberships, and still counts as an owner."""

from __future__ import annotations

import pytest

from iam.tenancy.models import Membership
from tests.conftest import PASSWORD
from tests.tenancy.conftest import auth

pytestmark = pytest.mark.django_db


def test_a_deleted_account_leaves_its_tenants_and_is_no_owner(api, acme, make_member, signed_in):
    """account_delete anonymises the row but keeps its Membership rows: the deleted account is
    still listed as a member (deleted-…@deleted.invalid, role owner) and _owners_left counts it,
    so the last real owner can demote themselves and leave the tenant with no usable owner."""
    olga = make_member("olga@example.com", acme, "owner")
    dora = make_member("dora@example.com", acme, "owner")
    gone = api.delete(
        "/api/auth/me/",
        {"password": PASSWORD},
        format="json",
        **auth(signed_in("dora@example.com")),
    )
    assert gone.status_code == 204

    olga_headers = auth(signed_in("olga@example.com"))
    listed = [m["user_id"] for m in api.get("/api/tenant/members/", **olga_headers).json()]
    assert str(dora.pk) not in listed
    assert not Membership.objects.filter(user=dora).exists()
    demote = api.patch(
        f"/api/tenant/members/{olga.pk}/", {"role": "admin"}, format="json", **olga_headers
    )
    assert demote.status_code == 409
    assert demote.json()["code"] == "last_owner"
