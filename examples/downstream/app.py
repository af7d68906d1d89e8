"""Example downstream service ("reports-api") that trusts IAM tokens without calling the IAM.

Run: ``IAM_ISSUER=http://127.0.0.1:8000 uvicorn examples.downstream.app:app --port 8200``

- ``GET /whoami`` accepts **user** access tokens (audience ``IAM_USER_AUDIENCE``, default
  ``iam-api``): the gateway may forward the user's own token here.
- ``GET /reports`` accepts **service** tokens for this service's own audience
  (``reports-api``) with the scope ``reports:read`` only; the calling service (the gateway) says
  for which user it calls in ``X-IAM-User`` / ``X-IAM-Tenant``, which this service believes only
  because the caller proved to be a service allowed to call it.

Tokens are verified locally with the published JWKS (fetched once, refetched on an unknown
``kid``, rate limited); a tampered, expired or wrong-audience token is refused here, without a
request to the IAM.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from iam_client import Verifier
from iam_client.contrib.asgi import IAMAuthMiddleware, principal_from_request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ISSUER = os.environ.get("IAM_ISSUER", "http://127.0.0.1:8000").rstrip("/")
AUDIENCE = os.environ.get("REPORTS_AUDIENCE", "reports-api")
USER_AUDIENCE = os.environ.get("IAM_USER_AUDIENCE", "iam-api")


class CountingFetch:
    """JWKS fetches, counted (the end-to-end test reads them at /stats)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, url: str) -> dict[str, Any]:
        import json
        import urllib.request

        with self._lock:
            self.count += 1
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (configured URL)
            return json.loads(response.read())


fetch = CountingFetch()
verifier = Verifier(
    ISSUER,
    [AUDIENCE, USER_AUDIENCE],
    jwks_url=f"{ISSUER}/.well-known/jwks.json",
    leeway=float(os.environ.get("IAM_LEEWAY", "10")),
    min_refetch_interval=float(os.environ.get("IAM_JWKS_MIN_REFETCH", "5")),
    http_fetch=fetch,
)


def _audience(principal: Any) -> str:
    return principal.claims["aud"]  # a string: the verifier refuses any other kind


def _deny(detail: str, code: str, status: int = 403) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)


async def whoami(request: Request) -> JSONResponse:
    principal = principal_from_request(request)
    if not principal.is_user or _audience(principal) != USER_AUDIENCE:
        return _deny("This endpoint takes user tokens.", "wrong_token_kind")
    return JSONResponse(
        {
            "via": "user_token",
            "user_id": principal.user_id,
            "email": principal.email,
            "tenant": principal.tenant,
            "roles": list(principal.roles),
        }
    )


async def reports(request: Request) -> JSONResponse:
    principal = principal_from_request(request)
    if not principal.is_service or _audience(principal) != AUDIENCE:
        return _deny("This endpoint takes service tokens for reports-api.", "wrong_token_kind")
    if not principal.has_scopes("reports:read"):
        return _deny("The scope reports:read is needed.", "missing_scope")
    return JSONResponse(
        {
            "via": "service_token",
            "caller": principal.client_id,
            "on_behalf_of": request.headers.get("x-iam-user"),
            "tenant": request.headers.get("x-iam-tenant") or None,
            "reports": ["q3-revenue", "q3-churn"],
        }
    )


async def stats(request: Request) -> JSONResponse:
    return JSONResponse({"jwks_fetches": fetch.count})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = IAMAuthMiddleware(
    Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/reports", reports),
            Route("/stats", stats),
            Route("/healthz", healthz),
        ]
    ),
    verifier,
    exempt_paths=("/stats", "/healthz"),
)
