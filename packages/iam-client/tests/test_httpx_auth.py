"""ClientCredentialsAuth: bearer header, one renewal and retry on 401, sync and async."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from kit import TOKEN_URL, FakeTokenEndpoint

from iam_client import ClientCredentials
from iam_client.contrib.httpx import ClientCredentialsAuth


class Service:
    """A downstream service that accepts only the tokens in ``accepted``."""

    def __init__(self, *accepted: str) -> None:
        self.accepted = set(accepted)
        self.seen: list[tuple[str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.headers.get("Authorization", ""), request.content))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in self.accepted:
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401, json={"detail": "no", "code": "token_invalid"})


def client_for(source: ClientCredentials, service: Service) -> httpx.Client:
    return httpx.Client(auth=ClientCredentialsAuth(source), transport=httpx.MockTransport(service))


@pytest.fixture
def source(clock) -> ClientCredentials:
    return ClientCredentials(
        TOKEN_URL, "svc", "s", audience="a", http_post=FakeTokenEndpoint(), clock=clock
    )


def test_requests_carry_the_bearer_token(source):
    service = Service("token-1")
    with client_for(source, service) as client:
        assert client.get("https://billing/x").status_code == 200
        assert client.get("https://billing/y").status_code == 200
    assert [header for header, _ in service.seen] == ["Bearer token-1", "Bearer token-1"]


def test_401_renews_the_token_and_retries_once_with_the_body(source):
    source.token()  # token-1 cached, but the service only accepts token-2 now
    service = Service("token-2")
    auth = ClientCredentialsAuth(source)
    with httpx.Client(auth=auth, transport=httpx.MockTransport(service)) as client:
        response = client.post("https://billing/x", json={"amount": 5})
    assert response.status_code == 200
    assert [header for header, _ in service.seen] == ["Bearer token-1", "Bearer token-2"]
    assert [json.loads(body) for _, body in service.seen] == [{"amount": 5}, {"amount": 5}]


def test_second_401_is_returned_not_retried_again(source):
    service = Service()
    with client_for(source, service) as client:
        response = client.get("https://billing/x")
    assert response.status_code == 401
    assert len(service.seen) == 2


def test_async_client(source):
    source.token()
    service = Service("token-2")

    async def main() -> list[int]:
        async with httpx.AsyncClient(
            auth=ClientCredentialsAuth(source), transport=httpx.MockTransport(service)
        ) as client:
            first = await client.post("https://billing/x", content=b"payload")
            second = await client.get("https://billing/y")
        return [first.status_code, second.status_code]

    assert asyncio.run(main()) == [200, 200]
    assert [header for header, _ in service.seen] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-2",
    ]
    assert service.seen[1][1] == b"payload"
