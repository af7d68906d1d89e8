"""Review: the documented "~" composition turns deny-by-default into allow-anonymous."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.test import APIRequestFactory

from iam.tenancy.permissions import HasPermission, HasRole


@pytest.mark.parametrize("permission", [~HasRole("viewer"), ~HasPermission("billing.manage")])
def test_an_inverted_tenant_permission_still_needs_a_tenant(permission):
    """docs/api.md: the classes "deny without a tenant-scoped token, and compose with &, |, ~".
    ``~HasRole("viewer")`` reads as "members other than viewers" but is DRF's bare NOT: an
    anonymous caller (or a token without a tenant) passes."""
    request = APIRequestFactory().get("/")
    request.user, request.auth = AnonymousUser(), None
    assert permission().has_permission(request, view=None) is False
