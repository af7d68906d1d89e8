"""Log plumbing: a request id on every request, its response and every log line it causes.

``RequestIdMiddleware`` takes the ``X-Request-ID`` a trusted proxy sent (with
``IAM_TRUSTED_PROXY_COUNT`` > 0 and a sane value) or makes one, and returns it in the response's
``X-Request-ID``; ``RequestIdFilter`` stamps it on log records as ``request_id``. The JSON format
comes from python-json-logger (``LOG_FORMAT=json``).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from iam.core.conf import iam_settings

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "iam_request_id", default=None
)


def current_request_id() -> str | None:
    return _request_id.get()


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        if iam_settings.trusted_proxy_count > 0 and _VALID.fullmatch(incoming):
            request_id = incoming
        else:
            request_id = uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (None outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if not hasattr(record, "request_id"):
            # django.request logs errors after the middleware returned, with the request
            record.request_id = _request_id.get() or getattr(request, "request_id", None)
        if isinstance(request, HttpRequest):
            # method and path only: a query string may carry what a client should not have
            # put there (tokens), and the formatter would print the whole request
            record.request = f"{request.method} {request.path}"
        return True
