"""The IAM's CORS middleware answers exactly as django-cors-headers' own, and reads a missing
``Origin`` without building ``request.headers`` (what makes it cheaper)."""

from __future__ import annotations

from typing import Any

import pytest
from corsheaders.middleware import CorsMiddleware as LibraryCorsMiddleware
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from iam.core.cors import CorsMiddleware

APP = "https://app.example.com"


@pytest.fixture(autouse=True)
def _one_listed_origin(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = [APP]


def answer(middleware_class: type, request: HttpRequest) -> tuple[int, dict[str, str]]:
    def view(_: HttpRequest) -> HttpResponse:
        return HttpResponse("body", headers={"Vary": "Cookie"})

    response = middleware_class(view)(request)
    return response.status_code, dict(response.headers)


def requests(method: str, path: str, origin: str | None) -> list[HttpRequest]:
    """Two equal requests: one for each middleware."""
    extra = {} if origin is None else {"HTTP_ORIGIN": origin}
    if method == "OPTIONS":
        extra["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] = "POST"
    return [RequestFactory().generic(method, path, **extra) for _ in range(2)]


@pytest.mark.parametrize("method", ["GET", "POST", "OPTIONS"])
@pytest.mark.parametrize("path", ["/api/auth/me/", "/.well-known/jwks.json", "/healthz", "/ui/"])
@pytest.mark.parametrize("origin", [None, "", APP, "https://evil.example", "null", "not a url"])
def test_every_answer_is_the_librarys(method: str, path: str, origin: str | None) -> None:
    ours, theirs = requests(method, path, origin)
    assert answer(CorsMiddleware, ours) == answer(LibraryCorsMiddleware, theirs)


@pytest.mark.parametrize("path", ["/api/auth/me/", "/healthz"])
def test_a_request_without_an_origin_builds_no_headers_mapping(path: str) -> None:
    request = RequestFactory().get(path)
    status, headers = answer(CorsMiddleware, request)
    assert status == 200
    assert "headers" not in request.__dict__  # Django's cached_property never ran
    assert ("origin" in headers["Vary"].lower()) == path.startswith("/api/")


def test_the_iam_runs_it(settings: Any) -> None:
    assert "iam.core.cors.CorsMiddleware" in settings.MIDDLEWARE
    assert "corsheaders.middleware.CorsMiddleware" not in settings.MIDDLEWARE
