"""Resolve the tenant a request names (header or host), lazily; see ``iam.tenancy.context``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from iam.core.conf import iam_settings
from iam.tenancy.context import TenantRef
from iam.tenancy.selectors import host_domain, tenant_get_by_slug, tenant_ref_by_host

TENANT_HEADER = "HTTP_X_TENANT"


def tenant_asked(request: HttpRequest) -> bool:
    """Whether the request names a tenant: an ``X-Tenant`` header, or a host under
    ``IAM_TENANT_BASE_DOMAIN``. (A tenant's own domain cannot be told from any other host.)"""
    if request.META.get(TENANT_HEADER, "").strip():
        return True
    base = iam_settings.tenant_base_domain
    if not base:
        return False
    host = request.get_host().lower().rsplit(":", 1)[0]
    return host.endswith("." + base)


def requested_tenant(request: HttpRequest) -> TenantRef | None:
    """The tenant named by ``X-Tenant`` (wins) or by the host, if it exists and is active."""
    slug = request.META.get(TENANT_HEADER, "").strip()
    if slug:
        tenant = tenant_get_by_slug(slug=slug)
        return TenantRef(id=tenant.id, slug=tenant.slug) if tenant else None
    return tenant_ref_by_host(host=request.get_host(), base_domain=iam_settings.tenant_base_domain)


@dataclass(frozen=True, slots=True)
class TenantNamed:
    """What a request says about its tenant, for a sign-in. ``asked`` (an ``X-Tenant`` header,
    or a host under the base domain): ``requested`` is that tenant (None: no such active
    tenant). Otherwise the only tenant the request can name is one whose own domain is
    ``domain``, the request's host: a question the sign-in asks with the facts it reads under
    the user's lock, not in a statement of its own (``tenant_of_domain_expressions``)."""

    requested: TenantRef | None
    asked: bool
    domain: str


def tenant_named(request: HttpRequest) -> TenantNamed:
    """``requested_tenant`` and ``tenant_asked`` for a sign-in, leaving the own-domain lookup to
    the sign-in's facts statement."""
    if tenant_asked(request):
        return TenantNamed(requested=requested_tenant(request), asked=True, domain="")
    return TenantNamed(requested=None, asked=False, domain=host_domain(request.get_host()))


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        lazy = SimpleLazyObject(lambda: requested_tenant(request))
        request.tenant_requested = lazy
        request.tenant = lazy
        return self.get_response(request)
