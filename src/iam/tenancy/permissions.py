"""DRF permission classes that read the validated access token: no query per request.

Use them as ``permission_classes = [HasPermission("billing.read")]`` or
``[HasRole("owner", "admin")]`` (DRF instantiates permission classes by calling them; these are
instances that return themselves). Every one denies unless the request is authenticated with an
access token scoped to a tenant, and they combine with ``&``, ``|`` and ``~`` like any DRF
permission.
"""

from __future__ import annotations

import copy
from typing import Any

from rest_framework.permissions import (
    AND,
    NOT,
    OR,
    BasePermission,
    OperandHolder,
    SingleOperandHolder,
)
from rest_framework.request import Request


def _tenant_claims(request: Request) -> Any | None:
    token = getattr(request, "auth", None)
    user = getattr(request, "user", None)
    if token is None or user is None or not user.is_authenticated:
        return None
    try:
        if not token.get("tid"):
            return None
    except AttributeError:
        return None
    return token


class IsTenantMember(BasePermission):
    """The request acts in a tenant the user is a member of (its token is scoped to one)."""

    message = "This needs an access token scoped to a tenant you are a member of."
    code = "not_a_member"

    def __call__(self) -> IsTenantMember:
        return copy.copy(self)  # one instance per request: ``code`` may be set while checking

    def _no_tenant(self) -> bool:
        self.code, self.message = IsTenantMember.code, IsTenantMember.message
        return False

    # DRF composes permission *classes* (its metaclass); these are instances, so compose here too.
    def __and__(self, other: Any) -> OperandHolder:
        return OperandHolder(AND, self, other)

    def __or__(self, other: Any) -> OperandHolder:
        return OperandHolder(OR, self, other)

    def __rand__(self, other: Any) -> OperandHolder:
        return OperandHolder(AND, other, self)

    def __ror__(self, other: Any) -> OperandHolder:
        return OperandHolder(OR, other, self)

    def __invert__(self) -> OperandHolder:
        # "not this role/permission" still needs a tenant-scoped token: deny stays the default
        return OperandHolder(AND, IsTenantMember, SingleOperandHolder(NOT, self))

    def has_permission(self, request: Request, view: Any) -> bool:
        return _tenant_claims(request) is not None


class HasRole(IsTenantMember):
    """The user holds at least one of ``roles`` in the request's tenant."""

    code = "missing_role"

    def __init__(self, *roles: str) -> None:
        if not roles:
            raise ValueError("HasRole needs at least one role")
        self.roles = frozenset(roles)
        self.message = f"This needs one of the roles: {', '.join(sorted(self.roles))}."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = _tenant_claims(request)
        if token is None:
            return self._no_tenant()
        return not self.roles.isdisjoint(token.get("roles") or ())


class HasPermission(IsTenantMember):
    """The user's roles in the request's tenant grant every one of ``permissions``."""

    code = "missing_permission"

    def __init__(self, *permissions: str) -> None:
        if not permissions:
            raise ValueError("HasPermission needs at least one permission")
        self.permissions = frozenset(permissions)
        self.message = f"This needs the permissions: {', '.join(sorted(self.permissions))}."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = _tenant_claims(request)
        if token is None:
            return self._no_tenant()
        return self.permissions.issubset(token.get("perms") or ())
