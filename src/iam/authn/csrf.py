"""CSRF policy: every unsafe request that is authenticated by an IAM cookie must pass Django's
CSRF check (Origin/Referer and the ``X-CSRFToken`` header matching the ``csrftoken`` cookie).
Header- and body-borne tokens are not sent by browsers on their own, so they need no CSRF check.

A browser app on another origin cannot read the ``csrftoken`` cookie (it belongs to the IAM's
host), so every response that hands out a token (``GET /api/auth/csrf/``) or sets a new one (a
cookie or hybrid login rotates it) also carries it in the ``X-CSRFToken`` response header, which
CORS exposes to the listed origins only (``CORS_EXPOSE_HEADERS``); to any other origin the browser
shows nothing of the response. The token stays bound to the cookie, and the Origin check stays.
"""

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from rest_framework import exceptions

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# the response header carrying the token; a client sends it back in the request header of that name
CSRF_TOKEN_HEADER = "X-CSRFToken"  # noqa: S105 - a header name, not a secret


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def enforce_csrf(request: HttpRequest) -> None:
    """Raise 403 ``csrf_failed`` unless the request passes the CSRF check (unsafe methods only)."""
    if request.method in SAFE_METHODS:
        return
    check = _CsrfCheck(lambda req: None)  # type: ignore[arg-type, return-value]
    check.process_request(request)
    reason = check.process_view(request, None, (), {})  # type: ignore[arg-type]
    if reason:
        raise exceptions.PermissionDenied(f"CSRF failed: {reason}", code="csrf_failed")


def csrf_token_expose(request: HttpRequest, response: HttpResponse) -> None:
    """Put the request's current CSRF token (masked, as Django hands it out) in the
    ``X-CSRFToken`` response header. The cookie it belongs to is set by Django's middleware."""
    response[CSRF_TOKEN_HEADER] = get_token(request)
