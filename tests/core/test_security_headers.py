"""The header set on every kind of response, CSP nonces on the HTML pages, CORS, request ids."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import Client

pytestmark = pytest.mark.django_db


def _csp(response: Any) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {
        part.split()[0]: " ".join(part.split()[1:])
        for part in (p.strip() for p in policy.split(";"))
        if part
    }


def _assert_header_set(response: Any) -> None:
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = _csp(response)
    assert csp["default-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/auth/csrf/", 204),
        ("get", "/api/auth/me/", 401),
        ("post", "/api/auth/login/", 400),
        ("get", "/no/such/page", 404),
        ("get", "/healthz", 200),
        ("get", "/.well-known/jwks.json", 200),
        ("get", "/admin/login/", 200),
        ("get", "/api/docs/", 200),
    ],
)
def test_every_response_carries_the_security_headers(
    api: Any, keys: Any, method: str, path: str, status: int
) -> None:
    response = getattr(api, method)(path)
    assert response.status_code == status
    _assert_header_set(response)


def test_hsts_on_https_in_production(api: Any, db: Any) -> None:
    response = api.get("/api/auth/csrf/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def _inline_tags(html: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}\b[^>]*>", html)


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_html_pages_only_run_what_the_policy_allows(api: Any, db: Any, path: str) -> None:
    response = api.get(path)
    html = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    for tag in _inline_tags(html, "script") + _inline_tags(html, "style"):
        assert "src=" in tag or f'nonce="{nonce}"' in tag, tag
    assert nonce != re.search(r"'nonce-([^']+)'", api.get(path)["Content-Security-Policy"])[1]


def test_cors_allows_credentials_for_listed_origins_only(settings: Any, db: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    client = Client()
    preflight = {
        "HTTP_ORIGIN": "https://app.example.com",
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type,x-csrftoken,x-tenant",
    }
    ok = client.options("/api/auth/refresh/", **preflight)
    assert ok["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert ok["Access-Control-Allow-Credentials"] == "true"
    assert "x-tenant" in ok["Access-Control-Allow-Headers"]
    evil = client.options("/api/auth/refresh/", **{**preflight, "HTTP_ORIGIN": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in evil
    simple = client.get("/api/auth/csrf/", HTTP_ORIGIN="https://app.example.com")
    assert "Retry-After" in simple["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    "override",
    [
        {"CORS_ALLOW_ALL_ORIGINS": True},
        {"CORS_ALLOWED_ORIGINS": ["*"]},
        {"CORS_ALLOWED_ORIGIN_REGEXES": [r"^https://.*\.example\.com$"]},
    ],
)
def test_wildcard_cors_is_a_startup_error(settings: Any, override: dict) -> None:
    for name, value in override.items():
        setattr(settings, name, value)
    assert "iam.E009" in {m.id for m in run_checks()}


def test_request_ids_are_made_here_unless_a_trusted_proxy_sent_one(
    api: Any, db: Any, settings: Any
) -> None:
    mine = api.get("/healthz", HTTP_X_REQUEST_ID="client-chosen-id-123")
    assert mine["X-Request-ID"] != "client-chosen-id-123"
    settings.IAM_TRUSTED_PROXY_COUNT = 1
    forwarded = api.get("/healthz", HTTP_X_REQUEST_ID="proxy-id-0123456789")
    assert forwarded["X-Request-ID"] == "proxy-id-0123456789"
    junk = api.get("/healthz", HTTP_X_REQUEST_ID="bad id\n{json}")
    assert re.fullmatch(r"[0-9a-f]{32}", junk["X-Request-ID"])


def test_an_oversized_body_is_a_clear_413(api: Any, keys: Any, settings: Any) -> None:
    body = '{"email": "a@b.c", "password": "' + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + '"}'
    response = api.post("/api/auth/login/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert response["X-Content-Type-Options"] == "nosniff"
