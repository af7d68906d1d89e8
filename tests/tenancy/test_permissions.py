"""Each permission class denies by default and allows exactly what it should."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.permissions import IsAuthenticated
from rest_framework.test import APIRequestFactory

from iam.tenancy.permissions import HasPermission, HasRole, IsTenantMember

pytestmark = pytest.mark.django_db


class User:
    is_authenticated = True


def request_with(token):
    request = APIRequestFactory().get("/")
    request.user = User() if token is not None else AnonymousUser()
    request.auth = token
    return request


TENANT = {"tid": str(uuid.uuid4()), "tenant": "acme", "roles": ["admin"],
          "perms": ["billing.read", "members.read"]}  # fmt: skip

CASES = [
    # (permission, token, allowed)
    (IsTenantMember(), TENANT, True),
    (IsTenantMember(), {"sub": "x"}, False),  # a token without a tenant
    (IsTenantMember(), None, False),  # anonymous
    (HasRole("admin"), TENANT, True),
    (HasRole("owner", "admin"), TENANT, True),
    (HasRole("owner"), TENANT, False),
    (HasRole("admin"), {**TENANT, "roles": []}, False),
    (HasRole("admin"), {**TENANT, "tid": None}, False),
    (HasRole("admin"), {"roles": ["admin"]}, False),  # roles without a tenant count for nothing
    (HasRole("admin"), None, False),
    (HasPermission("billing.read"), TENANT, True),
    (HasPermission("billing.read", "members.read"), TENANT, True),
    (HasPermission("billing.read", "billing.manage"), TENANT, False),  # all, not any
    (HasPermission("billing.manage"), TENANT, False),
    (HasPermission("billing"), TENANT, False),  # no prefix matching
    (HasPermission("billing.read"), {**TENANT, "perms": None}, False),
    (HasPermission("billing.read"), None, False),
]


@pytest.mark.parametrize(("permission", "token", "allowed"), CASES)
def test_permission_classes(permission, token, allowed):
    assert permission.has_permission(request_with(token), view=None) is allowed


def test_they_are_usable_as_drf_permission_classes_and_compose():
    # DRF instantiates permission_classes entries by calling them
    assert HasRole("admin")().has_permission(request_with(TENANT), None)
    both = (IsAuthenticated & HasPermission("billing.read"))()
    assert both.has_permission(request_with(TENANT), None)
    either = (HasRole("owner") | HasPermission("members.read"))()
    assert either.has_permission(request_with(TENANT), None)
    assert not (HasRole("owner") | HasRole("viewer"))().has_permission(request_with(TENANT), None)


def test_they_refuse_to_be_built_without_arguments():
    with pytest.raises(ValueError, match="at least one role"):
        HasRole()
    with pytest.raises(ValueError, match="at least one permission"):
        HasPermission()


def test_every_api_view_denies_anonymous_callers_unless_marked_public(client):
    """Default deny: walk the URLconf; every DRF view without an explicit AllowAny is 401/403
    for a caller with no credentials."""
    from django.urls import get_resolver
    from rest_framework.permissions import AllowAny
    from rest_framework.views import APIView

    public = []

    def walk(patterns, prefix=""):
        for entry in patterns:
            if hasattr(entry, "url_patterns"):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            else:
                yield prefix + str(entry.pattern), entry.callback

    checked = 0
    for route, callback in walk(get_resolver().url_patterns):
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if view is None or not issubclass(view, APIView):
            continue
        permissions = view.permission_classes
        if any(p is AllowAny for p in permissions):
            public.append(route)
            continue
        path = "/" + route.replace("<str:user_id>", str(uuid.uuid4())).replace(
            "<str:invitation_id>", str(uuid.uuid4())
        ).replace("<str:session_id>", str(uuid.uuid4()))
        for method in ("get", "post", "patch", "delete"):
            response = getattr(client, method)(path, content_type="application/json")
            assert response.status_code in (401, 403, 405), (path, method, response.status_code)
        checked += 1
    assert checked >= 10
    assert "api/tenant/" not in public
