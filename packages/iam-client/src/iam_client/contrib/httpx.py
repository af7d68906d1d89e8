"""``httpx.Auth`` that sends a client-credentials service token and renews it on a 401.

    client = httpx.Client(auth=ClientCredentialsAuth(source))

Each request carries ``Authorization: Bearer <token>``. If the service answers 401 (its keys
rotated, the token was revoked, clocks disagree), the token is dropped, a new one fetched and
the request sent once more; a second 401 is returned as is. Request bodies are buffered
(``requires_request_body``) so that the retry can resend them. In an ``AsyncClient`` the token
fetch runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx

from iam_client._async import run_sync
from iam_client.token_source import ClientCredentials

__all__ = ["ClientCredentialsAuth"]


class ClientCredentialsAuth(httpx.Auth):
    requires_request_body = True

    def __init__(self, source: ClientCredentials) -> None:
        self.source = source

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        token = self.source.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            response.read()
            self.source.invalidate(token)
            request.headers["Authorization"] = f"Bearer {self.source.token()}"
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        token = self.source.cached_token() or await run_sync(self.source.token)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            await response.aread()
            self.source.invalidate(token)
            request.headers["Authorization"] = f"Bearer {await run_sync(self.source.token)}"
            yield request
