"""Pure ASGI middleware (Starlette, FastAPI, any ASGI app): bearer authentication with IAM tokens.

    verifier = Verifier("https://iam.example.com", "orders-api")
    app = FastAPI()
    app.add_middleware(IAMAuthMiddleware, verifier=verifier, exempt_paths=("/healthz",))

    @app.get("/orders")
    def orders(principal: Principal = Depends(principal_from_request)): ...

The principal lands in ``scope["state"]["principal"]`` (``request.state.principal``) and
``scope["iam.principal"]``. Refusals are JSON ``{"detail", "code"}``: 401 with
``WWW-Authenticate: Bearer`` for a missing or bad token, 503 when the issuer's keys cannot be
fetched. A websocket handshake is refused with close code 1008 (policy violation) instead.

Verification runs inline on the event loop (tens of microseconds; microseconds when cached);
only when a JWKS fetch is needed does it move to a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from iam_client._async import run_sync
from iam_client.errors import JWKSUnavailable, TokenError
from iam_client.jwks import FetchRequired
from iam_client.principal import Principal
from iam_client.verifier import Verifier

try:  # FastAPI injects a dependency's parameter by its annotation
    from starlette.requests import HTTPConnection
except ImportError:  # pragma: no cover - plain ASGI without starlette
    HTTPConnection = Any  # type: ignore[assignment,misc]

__all__ = ["SCOPE_KEY", "IAMAuthMiddleware", "principal_from_request", "verify_async"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "iam.principal"


async def verify_async(verifier: Verifier, token: str) -> Principal:
    """``verifier.verify(token)`` without blocking the event loop on a JWKS fetch."""
    try:
        return verifier.verify(token, allow_fetch=False)
    except FetchRequired:
        return await run_sync(verifier.verify, token)


class _Refusal(Exception):
    def __init__(self, status: int, detail: str, code: str, challenge: str | None) -> None:
        self.status, self.detail, self.code, self.challenge = status, detail, code, challenge


class IAMAuthMiddleware:
    """Verify ``Authorization: Bearer`` on every http and websocket request.

    * ``required``: refuse requests without a token (False: let them through with principal
      ``None``; a token that is present but invalid is refused either way).
    * ``exempt_paths``: paths served without looking at the token (principal ``None``): an
      entry matches the path exactly, or as a prefix when it ends with ``/``.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        *,
        required: bool = True,
        exempt_paths: Iterable[str] = (),
        realm: str = "api",
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.required = required
        exempt = tuple(exempt_paths)
        self._exact = frozenset(p for p in exempt if not p.endswith("/"))
        self._prefixes = tuple(p for p in exempt if p.endswith("/"))
        self.realm = realm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        principal: Principal | None = None
        if not self._exempt(scope.get("path", "")):
            try:
                principal = await self._authenticate(scope)
            except _Refusal as refusal:
                await self._refuse(kind, refusal, send)
                return
        scope[SCOPE_KEY] = principal
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _exempt(self, path: str) -> bool:
        return path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))

    async def _authenticate(self, scope: Scope) -> Principal | None:
        values = [value for name, value in scope.get("headers", ()) if name == b"authorization"]
        if not values:
            if self.required:
                raise _Refusal(401, "Authentication credentials were not provided.",
                               "not_authenticated", f'Bearer realm="{self.realm}"')  # fmt: skip
            return None
        scheme, _, token = values[0].decode("latin-1").strip().partition(" ")
        token = token.strip()
        if len(values) > 1 or scheme.lower() != "bearer" or not token or " " in token:
            raise _Refusal(401, "Malformed bearer credentials.", "token_invalid", self._invalid)
        try:
            return await verify_async(self.verifier, token)
        except JWKSUnavailable as exc:
            raise _Refusal(503, exc.detail, exc.code, None) from exc
        except TokenError as exc:
            raise _Refusal(401, exc.detail, exc.code, self._invalid) from exc

    @property
    def _invalid(self) -> str:
        return f'Bearer realm="{self.realm}", error="invalid_token"'

    @staticmethod
    async def _refuse(kind: str, refusal: _Refusal, send: Send) -> None:
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": refusal.code})
            return
        body = json.dumps({"detail": refusal.detail, "code": refusal.code}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        if refusal.challenge:
            headers.append((b"www-authenticate", refusal.challenge.encode("latin-1")))
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def principal_from_request(request: HTTPConnection) -> Principal | None:
    """The principal ``IAMAuthMiddleware`` put on this request (None on exempt paths or without
    a token when not required). Usable as a FastAPI dependency: ``Depends(principal_from_request)``.
    """
    principal = request.scope.get(SCOPE_KEY)
    return principal if isinstance(principal, Principal) else None
