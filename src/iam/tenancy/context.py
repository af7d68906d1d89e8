"""``request.tenant``: which tenant a request acts in.

- Authenticated requests: the tenant of the access token (``tid``/``tenant`` claims), set by
  ``IAMAuthentication`` without a query.
- Other requests: what ``TenantMiddleware`` resolves from the ``X-Tenant`` header or the host
  (the tenant's own domain or ``<slug>.IAM_TENANT_BASE_DOMAIN``), lazily: no query unless read.

A request whose ``X-Tenant`` header names another tenant than its token is refused (403
``tenant_mismatch``): the token is the authority, the header only chooses at sign-in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TenantRef:
    """A tenant as a request knows it: enough to scope queries (``for_tenant``) and to log."""

    id: uuid.UUID
    slug: str

    @classmethod
    def from_claims(cls, claims: Any) -> TenantRef | None:
        tid, slug = claims.get("tid"), claims.get("tenant")
        if not tid or not slug:
            return None
        return cls(id=uuid.UUID(str(tid)), slug=str(slug))
