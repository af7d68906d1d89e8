"""django-cors-headers' middleware, without building ``request.headers`` for a request that
carries no ``Origin`` (every request of an app, a service, a same-origin page).

The library reads the origin with ``request.headers.get("origin")``: Django then builds a mapping
of every request header, on every request CORS is on for (``CORS_URLS_REGEX``: the API). That
mapping is about 100 k instructions of a ``GET /api/auth/me/`` of 1.8 M (``docs/performance.md``,
issue 17, seventh pass). ``tests/core/test_cors.py`` holds this middleware's responses equal to
the library's own, with and without an ``Origin``.
"""

from __future__ import annotations

from corsheaders.middleware import CorsMiddleware as LibraryCorsMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers


class CorsMiddleware(LibraryCorsMiddleware):
    """A request with an ``Origin`` header: the library's ``add_response_headers``. Without
    one: what the library does then, read from ``META`` (``Vary: origin`` where CORS is on,
    nothing else)."""

    def add_response_headers(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if request.META.get("HTTP_ORIGIN"):
            return super().add_response_headers(request, response)
        enabled = getattr(request, "_cors_enabled", None)
        if enabled is None:
            enabled = self.is_enabled(request)
        if enabled:
            patch_vary_headers(response, ("origin",))
        return response
