"""ASGI middleware through Starlette's TestClient, and FastAPI's dependency injection."""

from __future__ import annotations

import threading

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from iam_client.contrib.asgi import IAMAuthMiddleware, principal_from_request

loop_threads: list[int] = []


async def whoami(request: Request) -> JSONResponse:
    loop_threads.append(threading.get_ident())
    principal = request.state.principal
    assert principal is principal_from_request(request)
    assert request.scope["iam.principal"] is principal
    if principal is None:
        return JSONResponse({"principal": None})
    return JSONResponse({"kind": principal.kind, "subject": principal.subject})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "principal": principal_from_request(request) is not None})


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"subject": websocket.scope["iam.principal"].subject})
    await websocket.close()


def make_app(verifier, **options) -> Starlette:
    app = Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/healthz", healthz),
            Route("/public/info", healthz),
            WebSocketRoute("/ws", ws),
        ]
    )
    app.add_middleware(IAMAuthMiddleware, verifier=verifier, **options)
    return app


@pytest.fixture
def client(verifier):
    with TestClient(make_app(verifier, exempt_paths=("/healthz", "/public/"))) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_valid_user_token_reaches_the_app(client, tokens):
    response = client.get("/whoami", headers=bearer(tokens.user()))
    assert response.status_code == 200
    assert response.json()["kind"] == "user"


def test_valid_service_token_reaches_the_app(client, tokens):
    response = client.get("/whoami", headers=bearer(tokens.service()))
    assert response.json() == {"kind": "service", "subject": "svc_0123456789abcdef01234567"}


def test_missing_token_is_401(client):
    response = client.get("/whoami")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda t: t.user(exp=int(t.clock.now) - 60), "token_expired"),
        (lambda t: t.user(aud="other-api"), "wrong_audience"),
        (lambda t: t.refresh(), "wrong_token_type"),
        (lambda t: t.user()[:-4] + "AAAA", "token_invalid"),
        (lambda t: "garbage", "token_invalid"),
    ],
)
def test_bad_token_is_401_with_its_code(client, tokens, make, code):
    response = client.get("/whoami", headers=bearer(make(tokens)))
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.headers["www-authenticate"] == 'Bearer realm="api", error="invalid_token"'


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token abc"])
def test_malformed_authorization_is_401(client, header):
    response = client.get("/whoami", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_two_authorization_headers_are_refused(client, tokens):
    token = tokens.user()
    response = client.get(
        "/whoami", headers=[("Authorization", f"Bearer {token}"), ("Authorization", "Bearer x")]
    )
    assert response.status_code == 401


def test_unavailable_keys_are_503(client, tokens, issuer):
    issuer.fail = True
    response = client.get("/whoami", headers=bearer(tokens.user()))
    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable"


def test_exempt_paths_skip_authentication(client, tokens):
    assert client.get("/healthz").json() == {"ok": True, "principal": False}
    assert client.get("/public/info").json() == {"ok": True, "principal": False}
    # an exempt path never looks at the token, even a bad one
    assert client.get("/healthz", headers=bearer("garbage")).status_code == 200
    # exact entries are not prefixes
    assert client.get("/healthz/deep").status_code == 401


def test_optional_mode_lets_anonymous_requests_through(verifier, tokens):
    with TestClient(make_app(verifier, required=False)) as client:
        assert client.get("/whoami").json() == {"principal": None}
        assert client.get("/whoami", headers=bearer(tokens.user())).json()["kind"] == "user"
        assert client.get("/whoami", headers=bearer("garbage")).status_code == 401


def test_jwks_fetch_runs_off_the_event_loop(make_verifier, issuer, tokens):
    fetch_threads: list[int] = []

    def fetch(url: str) -> dict:
        fetch_threads.append(threading.get_ident())
        return issuer.fetch(url)

    loop_threads.clear()
    with TestClient(make_app(make_verifier(http_fetch=fetch))) as client:
        assert client.get("/whoami", headers=bearer(tokens.user())).status_code == 200
        assert client.get("/whoami", headers=bearer(tokens.user())).status_code == 200
    assert len(fetch_threads) == 1
    assert fetch_threads[0] not in loop_threads


def test_websocket_with_a_token_is_accepted(client, tokens):
    with client.websocket_connect("/ws", headers=bearer(tokens.service())) as socket:
        assert socket.receive_json() == {"subject": "svc_0123456789abcdef01234567"}


def test_websocket_without_a_token_is_closed_with_policy_violation(client):
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
        pass
    assert info.value.code == 1008


def test_fastapi_dependency(verifier, tokens):
    import fastapi  # in the package's test extra

    app = fastapi.FastAPI()
    app.add_middleware(IAMAuthMiddleware, verifier=verifier)

    current_principal = fastapi.Depends(principal_from_request)

    @app.get("/me")
    def me(principal=current_principal) -> dict:
        return {"subject": principal.subject if principal else None}

    with TestClient(app) as client:
        token = tokens.user(sub="7f8e6a52-5d0c-4a3e-9c1e-0d6c8d7e9f00")
        response = client.get("/me", headers=bearer(token))
        assert response.json() == {"subject": "7f8e6a52-5d0c-4a3e-9c1e-0d6c8d7e9f00"}
