"""Example API gateway in front of the downstream service, using the iam-client package.

Run: ``IAM_ISSUER=http://127.0.0.1:8000 DOWNSTREAM_URL=http://127.0.0.1:8200
GATEWAY_CLIENT_ID=svc_... GATEWAY_CLIENT_SECRET=... uvicorn examples.gateway.app:app --port 8100``

For every call it:

1. authenticates the user: the access token from ``Authorization: Bearer`` or the ``access_token``
   cookie, verified locally (signature, issuer, the IAM's user audience, expiry);
2. forwards to the route's upstream, choosing the credential by the upstream's audience:
   - an upstream that accepts user tokens (its audience is the token's ``aud``) gets the user's
     own token, unchanged;
   - any other upstream gets the gateway's **own service token** for that upstream's audience
     (client credentials, cached and renewed before it expires) plus the verified user identity
     in ``X-IAM-User`` / ``X-IAM-Tenant``.
   A user token is never sent to an audience it was not issued for.
"""

from __future__ import annotations

import os

import httpx
from iam_client import TokenError, Verifier
from iam_client.token_source import ClientCredentials
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ISSUER = os.environ.get("IAM_ISSUER", "http://127.0.0.1:8000").rstrip("/")
USER_AUDIENCE = os.environ.get("IAM_USER_AUDIENCE", "iam-api")
DOWNSTREAM = os.environ.get("DOWNSTREAM_URL", "http://127.0.0.1:8200").rstrip("/")

# path -> (upstream URL, the audience the upstream accepts)
ROUTES = {
    "/api/whoami": (f"{DOWNSTREAM}/whoami", USER_AUDIENCE),
    "/api/reports": (f"{DOWNSTREAM}/reports", "reports-api"),
}

users = Verifier(
    ISSUER,
    USER_AUDIENCE,
    jwks_url=f"{ISSUER}/.well-known/jwks.json",
    min_refetch_interval=float(os.environ.get("IAM_JWKS_MIN_REFETCH", "5")),
)
_sources: dict[str, ClientCredentials] = {}


def service_token(audience: str) -> str:
    source = _sources.get(audience)
    if source is None:
        source = _sources[audience] = ClientCredentials(
            f"{ISSUER}/api/oauth/token/",
            os.environ["GATEWAY_CLIENT_ID"],
            os.environ["GATEWAY_CLIENT_SECRET"],
            audience=audience,
        )
    return source.token()


def _incoming_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.cookies.get("access_token")


def _error(detail: str, code: str, status: int) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)


async def forward(request: Request) -> JSONResponse:
    route = ROUTES.get(request.url.path)
    if route is None:
        return _error("Not found.", "not_found", 404)
    upstream, audience = route
    raw = _incoming_token(request)
    if raw is None:
        return _error("Sign in first.", "not_authenticated", 401)
    try:
        user = await run_in_threadpool(users.verify, raw)
    except TokenError as exc:
        return _error("The access token is not valid.", exc.code, 401)
    if not user.is_user:
        return _error("This gateway serves users.", "wrong_token_kind", 403)
    if user.claims["aud"] == audience:  # a string: the verifier refuses any other kind
        headers = {"Authorization": f"Bearer {raw}"}
    else:
        headers = {
            "Authorization": f"Bearer {await run_in_threadpool(service_token, audience)}",
            "X-IAM-User": user.user_id or "",
            "X-IAM-Tenant": user.tenant or "",
        }
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(upstream, headers=headers)
    return JSONResponse(answer.json(), status_code=answer.status_code)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/api/{path:path}", forward),
    ]
)
