"""The default urllib fetchers against a real HTTP server on loopback."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from kit import AUDIENCE, ISSUER, Key, sign, user_claims

from iam_client import ClientCredentials, JWKSUnavailable, TokenRequestError, Verifier
from iam_client._http import max_age


class FakeIAM(BaseHTTPRequestHandler):
    keys: list[Key] = []
    cache_control = "public, max-age=300"
    token_requests: list[tuple[dict, str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/.well-known/jwks.json":
            body = {"keys": [key.jwk for key in self.keys]}
            self._json(200, body, {"Cache-Control": self.cache_control})
        elif self.path == "/.well-known/openid-configuration":
            base = f"http://{self.headers['Host']}"
            self._json(200, {"issuer": base, "jwks_uri": base + "/.well-known/jwks.json"})
        elif self.path == "/huge":
            self._json(200, {"keys": [], "pad": "x" * (2 << 20)})
        else:
            self._json(404, {"detail": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        FakeIAM.token_requests.append((form, self.headers.get("Authorization", "")))
        expected = "Basic " + base64.b64encode(b"svc_abc:s3cret").decode()
        if self.headers.get("Authorization") != expected:
            self._json(401, {"error": "invalid_client", "error_description": "Bad client."})
        elif form.get("grant_type") != "client_credentials":
            self._json(400, {"error": "unsupported_grant_type"})
        else:
            body = {"access_token": "tok", "token_type": "Bearer", "expires_in": 300, "scope": ""}
            self._json(200, body, {"Cache-Control": "no-store"})


@pytest.fixture
def server(key_a):
    FakeIAM.keys = [key_a]
    FakeIAM.cache_control = "public, max-age=300"
    FakeIAM.token_requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeIAM)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_default_fetcher_reads_the_jwks(server, key_a, clock):
    verifier = Verifier(ISSUER, AUDIENCE, jwks_url=server + "/.well-known/jwks.json", clock=clock)
    assert verifier.verify(sign(user_claims(clock.now), key_a)).kind == "user"
    assert verifier.keys.kids == {key_a.kid}
    assert verifier.keys._fresh_for == 300


def test_a_shorter_cache_control_max_age_wins(server, clock):
    FakeIAM.cache_control = "public, max-age=60"
    verifier = Verifier(ISSUER, AUDIENCE, jwks_url=server + "/.well-known/jwks.json", clock=clock)
    verifier.prefetch()
    assert verifier.keys._fresh_for == 60


def test_from_issuer_over_http(server, key_a, clock):
    verifier = Verifier.from_issuer(server, AUDIENCE, clock=clock)
    assert verifier.jwks_url == server + "/.well-known/jwks.json"
    claims = user_claims(clock.now, iss=server)
    assert verifier.verify(sign(claims, key_a)).kind == "user"


@pytest.mark.parametrize("path", ["/missing", "/huge"])
def test_bad_responses_are_unavailable(server, path):
    verifier = Verifier(ISSUER, AUDIENCE, jwks_url=server + path)
    with pytest.raises(JWKSUnavailable):
        verifier.prefetch()


def test_unreachable_issuer_is_unavailable():
    verifier = Verifier(ISSUER, AUDIENCE, jwks_url="http://127.0.0.1:9/jwks", http_timeout=1)
    with pytest.raises(JWKSUnavailable):
        verifier.prefetch()


def test_default_token_request(server):
    source = ClientCredentials(
        server + "/token", "svc_abc", "s3cret", audience="billing-api", scope="a b"
    )
    assert source.token() == "tok"
    form, _ = FakeIAM.token_requests[0]
    assert form == {"grant_type": "client_credentials", "audience": "billing-api", "scope": "a b"}


def test_default_token_request_error_is_parsed(server):
    source = ClientCredentials(server + "/token", "svc_abc", "wrong", audience="billing-api")
    with pytest.raises(TokenRequestError) as info:
        source.token()
    assert (info.value.error, info.value.description, info.value.status) == (
        "invalid_client",
        "Bad client.",
        401,
    )


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=300", 300),
        ("max-age=0", 0),
        ("no-store", 0),
        ("private, no-cache", 0),
        ('s-maxage=10, max-age="20"', 20),
        ("public", None),
        ("", None),
    ],
)
def test_cache_control_parsing(header, seconds):
    assert max_age(header) == seconds
