"""Reads: memberships, and the tenant claims a token carries."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db.models import QuerySet, Subquery

from iam.core.sql import PreparedQuery
from iam.tenancy.context import TenantRef
from iam.tenancy.models import Membership, Role, Tenant

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def membership_get(*, user_id: Any, tenant_id: Any) -> Membership | None:
    """The user's membership of an active tenant, with its role and tenant (one query)."""
    return (
        Membership.objects.select_related("role", "tenant")
        .filter(user_id=user_id, tenant_id=tenant_id, tenant__is_active=True)
        .first()
    )


def membership_get_by_slug(*, user_id: Any, slug: str) -> Membership | None:
    """The user's membership of the active tenant ``slug`` (case-insensitive)."""
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug.strip().lower()):
        return None
    return (
        Membership.objects.select_related("role", "tenant")
        .filter(user_id=user_id, tenant__slug=slug.strip().lower(), tenant__is_active=True)
        .first()
    )


def membership_default_expressions(*, user_id: Any) -> tuple[Subquery, Subquery]:
    """The lowest and the highest id of the user's memberships of active tenants, as
    expressions to ask in a statement made anyway (a sign-in asks them with its other facts):
    equal ids mean exactly one tenant (``membership_default_of``). Both are served by the
    ``(user, tenant)`` index."""
    mine = Membership.objects.filter(user_id=user_id, tenant__is_active=True)
    return (
        Subquery(mine.order_by("pk").values("pk")[:1]),
        Subquery(mine.order_by("-pk").values("pk")[:1]),
    )


def membership_default_of(lowest: Any, highest: Any) -> Membership | None:
    """The tenant a sign-in gets when none is asked for: the user's only one, if exactly one
    (``membership_default_expressions``). A user of no tenant, the common case, or of several
    costs no query here."""
    if lowest is None or lowest != highest:
        return None
    return membership_of_pk(pk=lowest)


def membership_of_pk(*, pk: Any) -> Membership | None:
    """The membership ``pk`` if its tenant is active, with its role and tenant (one query)."""
    return (
        Membership.objects.select_related("role", "tenant")
        .filter(pk=pk, tenant__is_active=True)
        .first()
    )


def tenant_of_domain_expressions(*, user_id: Any, domain: str) -> tuple[Subquery, Subquery]:
    """The active tenant whose own domain is ``domain`` (``host_domain``), and the user's
    membership of it, as expressions to ask in a statement made anyway (a sign-in asks them
    with its other facts instead of a statement of its own). The first is None when the domain
    names no tenant; the second when the user is not a member."""
    tenant = Tenant.objects.filter(domain=domain, is_active=True)
    return (
        Subquery(tenant.values("pk")[:1]),
        Subquery(
            Membership.objects.filter(
                user_id=user_id, tenant__domain=domain, tenant__is_active=True
            ).values("pk")[:1]
        ),
    )


def memberships_of_user(*, user_id: Any) -> QuerySet[Membership]:
    return (
        Membership.objects.select_related("role", "tenant")
        .filter(user_id=user_id, tenant__is_active=True)
        .order_by("tenant__name")
    )


def members_of_tenant(*, tenant: Any) -> QuerySet[Membership]:
    return (
        Membership.objects.for_tenant(tenant)
        .select_related("role", "user")
        .order_by("-role__rank", "user__email")
    )


# Every sign-in asks these (which tenant the host names; the user's only tenant): built and
# compiled once per process, then only run.
_TENANT_BY_DOMAIN = PreparedQuery(
    lambda *, domain: Tenant.objects.filter(domain=domain, is_active=True).values_list(
        "id", "slug"
    )[:1],
    domain=f"example-{uuid.uuid4().hex}.invalid",
)
_TENANT_BY_SLUG = PreparedQuery(
    lambda *, slug: Tenant.objects.filter(slug=slug, is_active=True).values_list("id", "slug")[:1],
    slug=f"example-{uuid.uuid4().hex}",
)


def host_domain(host: str) -> str:
    """A request's host as a tenant's domain is stored: lower case, without the port."""
    return host.lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.lower()


def tenant_ref_by_host(*, host: str, base_domain: str) -> TenantRef | None:
    """The active tenant a request's host names: its own domain, or ``<slug>.<base_domain>``."""
    host = host_domain(host)
    if not host:
        return None
    by_domain = _TENANT_BY_DOMAIN.first(domain=host)
    if by_domain is not None or not base_domain:
        return TenantRef(id=by_domain[0], slug=by_domain[1]) if by_domain else None
    suffix = "." + base_domain.lower().lstrip(".")
    if not host.endswith(suffix):
        return None
    slug = host[: -len(suffix)]
    if not slug or "." in slug:
        return None
    by_slug = _TENANT_BY_SLUG.first(slug=slug)
    return TenantRef(id=by_slug[0], slug=by_slug[1]) if by_slug else None


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    """The active tenant ``slug`` names; None for no such tenant or anything not slug-shaped."""
    if not isinstance(slug, str):
        return None
    slug = slug.strip().lower()
    if not _SLUG.fullmatch(slug):
        return None
    return Tenant.objects.filter(slug=slug, is_active=True).first()


def roles_all() -> QuerySet[Role]:
    """Every role, highest rank first (roles are shared by every tenant)."""
    return Role.objects.order_by("-rank", "name")


def role_get(*, name: str) -> Role | None:
    return Role.objects.filter(name=name).first() if isinstance(name, str) else None


def membership_locked(*, user_id: Any, tenant_id: Any) -> bool:
    """Whether the membership still exists, locking it until the transaction ends: a removal
    either happens before (and this says no) or waits until the session change is committed
    (and then revokes that session)."""
    return (
        Membership.objects.select_for_update(of=("self",))
        .filter(user_id=user_id, tenant_id=tenant_id, tenant__is_active=True)
        .exists()
    )


def tenant_claims(membership: Membership) -> dict[str, Any]:
    """The claims of an access token scoped to the membership's tenant."""
    return tenant_claims_of(
        tenant_id=membership.tenant_id,
        slug=membership.tenant.slug,
        role=membership.role.name,
        permissions=membership.role.permissions,
    )


def tenant_claims_of(
    *, tenant_id: Any, slug: str, role: str, permissions: list[str]
) -> dict[str, Any]:
    """The tenant claims from a membership's columns (read by a statement of its own, or riding
    on another one such as the refresh rotation)."""
    return {
        "tid": str(tenant_id),
        "tenant": slug,
        "roles": [role],
        "perms": sorted(set(permissions)),
    }


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
