"""TenantScopedMixin: another tenant's rows cannot be read or written, by construction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from iam.tenancy.models import Invitation, Role
from tests.tenancy.conftest import auth

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.tenancy.scoped_urls")]


@pytest.fixture
def rows(acme, globex):
    member = Role.objects.get(name="member")
    later = timezone.now() + timedelta(days=1)
    return {
        "acme": Invitation.objects.create(
            tenant=acme, email="a@x.com", role=member, expires_at=later
        ),
        "globex": Invitation.objects.create(
            tenant=globex, email="g@x.com", role=member, expires_at=later
        ),
    }


@pytest.fixture
def acme_member(acme, make_member, signed_in):
    make_member("ann@example.com", acme, "member")
    return auth(signed_in("ann@example.com"))


def test_list_shows_only_the_tokens_tenant(api, rows, acme_member):
    body = api.get("/scoped/", **acme_member).json()
    assert [row["email"] for row in body] == ["a@x.com"]


def test_another_tenants_row_cannot_be_read_changed_or_deleted(api, rows, acme_member):
    url = f"/scoped/{rows['globex'].pk}/"
    assert api.get(url, **acme_member).status_code == 404
    assert api.patch(url, {"email": "pwned@x.com"}, format="json", **acme_member).status_code == 404
    assert api.delete(url, **acme_member).status_code == 404
    rows["globex"].refresh_from_db()
    assert rows["globex"].email == "g@x.com"
    assert api.get(f"/scoped/{rows['acme'].pk}/", **acme_member).status_code == 200


def test_a_created_row_belongs_to_the_tokens_tenant_whatever_the_input(
    api, acme, globex, rows, acme_member
):
    response = api.post(
        "/scoped/",
        {
            "email": "new@x.com",
            "role": Role.objects.get(name="viewer").pk,
            "tenant": str(globex.pk),
            "tenant_id": str(globex.pk),
            "expires_at": (timezone.now() + timedelta(days=1)).isoformat(),
        },
        format="json",
        **acme_member,
    )
    assert response.status_code == 201, response.content
    assert Invitation.objects.get(email="new@x.com").tenant_id == acme.pk


def test_moving_a_row_to_another_tenant_is_impossible(api, globex, rows, acme_member):
    url = f"/scoped/{rows['acme'].pk}/"
    api.patch(url, {"tenant": str(globex.pk)}, format="json", **acme_member)
    rows["acme"].refresh_from_db()
    assert rows["acme"].tenant.slug == "acme"


def test_no_tenant_no_rows(api, rows, make_member, signed_in):
    make_member("solo@example.com")
    response = api.get("/scoped/", **auth(signed_in("solo@example.com")))
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"
