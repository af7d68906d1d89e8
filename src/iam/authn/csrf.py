"""CSRF policy: every unsafe request that is authenticated by an IAM cookie must pass Django's
CSRF check (Origin/Referer and the ``X-CSRFToken`` header matching the ``csrftoken`` cookie).
Header- and body-borne tokens are not sent by browsers on their own, so they need no CSRF check.
"""

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework import exceptions

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


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
