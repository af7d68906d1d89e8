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


def test_they_are_usable_as_drf_permission_classes():
    # DRF instantiates permission_classes entries by calling them
    assert HasRole("admin")().has_permission(request_with(TENANT), None)
    assert not HasRole("owner")().has_permission(request_with(TENANT), None)


class HeaderSaysYes:
    """A permission class written without DRF's base class: it has no ``&``/``|`` of its own, so
    ``HeaderSaysYes & HasRole(...)`` runs ``HasRole.__rand__`` (and ``|`` ``__ror__``)."""

    def has_permission(self, request, view):
        return request.META.get("HTTP_X_YES") == "1"

    def has_object_permission(self, request, view, obj):
        return True


VIEWER = {**TENANT, "roles": ["viewer"], "perms": ["members.read"]}
OWNER_NO_PERMS = {**TENANT, "roles": ["owner"], "perms": []}
ADMIN_NO_BILLING = {**TENANT, "perms": ["members.read"]}
NO_TENANT = {"sub": "x", "roles": ["admin"], "perms": ["billing.read"]}

# (name, composed permission, token, X-Yes header, allowed): every operator with cases that
# must be denied, so a wrong operator (``&`` built as ``|``, ``~`` without its tenant check,
# operands swapped) fails one of them.
COMPOSED = [
    # instance & instance: IsTenantMember.__and__
    ("and", lambda: HasRole("admin") & HasPermission("billing.read"), TENANT, False, True),
    ("and", lambda: HasRole("admin") & HasPermission("billing.read"), VIEWER, False, False),
    (
        "and",
        lambda: HasRole("admin") & HasPermission("billing.read"),
        ADMIN_NO_BILLING,
        False,
        False,
    ),
    ("and", lambda: HasRole("admin") & HasPermission("billing.read"), NO_TENANT, False, False),
    ("and", lambda: HasRole("admin") & HasPermission("billing.read"), None, False, False),
    # instance & DRF class: __and__ with a class operand
    ("and-class", lambda: HasPermission("billing.read") & IsAuthenticated, TENANT, False, True),
    ("and-class", lambda: HasPermission("billing.read") & IsAuthenticated, VIEWER, False, False),
    # DRF class & instance: DRF's own operator, our instance as its operand
    ("class-and", lambda: IsAuthenticated & HasPermission("billing.read"), TENANT, False, True),
    ("class-and", lambda: IsAuthenticated & HasPermission("billing.read"), VIEWER, False, False),
    ("class-and", lambda: IsAuthenticated & HasPermission("billing.read"), None, False, False),
    # plain class & instance: IsTenantMember.__rand__
    ("rand", lambda: HeaderSaysYes & HasRole("admin"), TENANT, True, True),
    ("rand", lambda: HeaderSaysYes & HasRole("admin"), TENANT, False, False),
    ("rand", lambda: HeaderSaysYes & HasRole("admin"), VIEWER, True, False),
    ("rand", lambda: HeaderSaysYes & HasRole("admin"), NO_TENANT, True, False),
    # instance | instance: IsTenantMember.__or__
    ("or", lambda: HasRole("owner") | HasPermission("members.read"), TENANT, False, True),
    ("or", lambda: HasRole("owner") | HasPermission("members.read"), OWNER_NO_PERMS, False, True),
    ("or", lambda: HasRole("owner") | HasPermission("billing.read"), VIEWER, False, False),
    ("or", lambda: HasRole("owner") | HasRole("viewer"), TENANT, False, False),
    ("or", lambda: HasRole("owner") | HasPermission("members.read"), NO_TENANT, False, False),
    ("or", lambda: HasRole("owner") | HasPermission("members.read"), None, False, False),
    # plain class | instance: IsTenantMember.__ror__
    ("ror", lambda: HeaderSaysYes | HasRole("owner"), TENANT, True, True),
    ("ror", lambda: HeaderSaysYes | HasRole("owner"), OWNER_NO_PERMS, False, True),
    ("ror", lambda: HeaderSaysYes | HasRole("owner"), TENANT, False, False),
    ("ror", lambda: HeaderSaysYes | HasRole("owner"), None, False, False),
    # ~instance: IsTenantMember.__invert__ (still needs a tenant-scoped token)
    ("invert", lambda: ~HasRole("viewer"), TENANT, False, True),
    ("invert", lambda: ~HasRole("viewer"), VIEWER, False, False),
    ("invert", lambda: ~HasRole("viewer"), NO_TENANT, False, False),
    ("invert", lambda: ~HasRole("viewer"), None, False, False),
    ("invert", lambda: ~HasPermission("billing.read"), VIEWER, False, True),
    ("invert", lambda: ~HasPermission("billing.read"), TENANT, False, False),
    # nested: ~ inside &, and | of two &
    ("nested", lambda: HasRole("admin") & ~HasPermission("billing.manage"), TENANT, False, True),
    ("nested", lambda: HasRole("admin") & ~HasPermission("billing.read"), TENANT, False, False),
    (
        "nested",
        lambda: (
            (HasRole("owner") & HasPermission("members.read"))
            | (HasRole("viewer") & HasPermission("members.read"))
        ),
        VIEWER,
        False,
        True,
    ),
    (
        "nested",
        lambda: (
            (HasRole("owner") & HasPermission("members.read"))
            | (HasRole("viewer") & HasPermission("billing.read"))
        ),
        VIEWER,
        False,
        False,
    ),
]


@pytest.mark.parametrize(
    ("operator", "compose", "token", "header", "allowed"),
    COMPOSED,
    ids=[f"{case[0]}-{n}" for n, case in enumerate(COMPOSED)],
)
def test_every_composition_allows_and_denies_exactly(operator, compose, token, header, allowed):
    request = request_with(token)
    if header:
        request.META["HTTP_X_YES"] = "1"
    permission = compose()()  # DRF calls the composed holder to get the permission
    assert permission.has_permission(request, view=None) is allowed


def test_the_composition_operators_build_the_drf_operators():
    from rest_framework.permissions import AND, NOT, OR

    assert (HasRole("a") & HasRole("b")).operator_class is AND
    assert (HeaderSaysYes & HasRole("b")).operator_class is AND
    assert (HasRole("a") | HasRole("b")).operator_class is OR
    assert (HeaderSaysYes | HasRole("b")).operator_class is OR
    inverted = ~HasRole("a")
    assert inverted.operator_class is AND  # IsTenantMember and NOT(the role)
    assert inverted.op2_class.operator_class is NOT


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
