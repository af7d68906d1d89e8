"""One error shape for every error: ``{"detail": str, "code": str}`` plus ``fields`` for validation.

``fields`` maps a field name to a list of ``{"message", "code"}``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from iam.core.exceptions import IAMError, ServiceUnavailable, Throttled
from iam.core.metrics import metrics_throttled

log = logging.getLogger("iam.errors")

# The database could not be reached or ended the connection (restarted, out of connections,
# shutting down, a deadlock or serialization failure): the request may succeed if repeated, so
# it is a 503 in the error shape, never a 500 and never a hang (connect_timeout bounds a connect).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_UNAVAILABLE)


def _log_database_unavailable(exc: BaseException) -> None:
    # the driver's message may name hosts and databases: the class is enough to tell the cause
    log.warning("database unavailable (%s); answered 503", type(exc).__name__)


def _flatten(detail: Any) -> list[dict[str, str]]:
    if isinstance(detail, list):
        out: list[dict[str, str]] = []
        for item in detail:
            out.extend(_flatten(item))
        return out
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            for item in _flatten(value):
                out.append({**item, "message": f"{key}: {item['message']}"})
        return out
    return [{"message": str(detail), "code": getattr(detail, "code", "invalid")}]


def _validation_body(exc: drf_exceptions.ValidationError) -> dict[str, Any]:
    detail = exc.detail
    if not isinstance(detail, dict):
        errors = _flatten(detail)
        return {"detail": errors[0]["message"], "code": errors[0]["code"], "fields": {}}
    fields = {name: _flatten(value) for name, value in detail.items()}
    non_field = fields.pop("non_field_errors", None)
    if non_field:
        return {"detail": non_field[0]["message"], "code": non_field[0]["code"], "fields": fields}
    return {"detail": "Invalid input.", "code": "invalid", "fields": fields}


def _view_name(context: dict[str, Any]) -> str:
    view = context.get("view")
    return type(view).__name__ if view is not None else "unknown"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: domain errors and DRF errors in the one shape."""
    if database_unavailable(exc):
        _log_database_unavailable(exc)
        exc = ServiceUnavailable()
    if isinstance(exc, IAMError):
        body: dict[str, Any] = {"detail": exc.detail, "code": exc.code}
        if exc.fields:
            body["fields"] = exc.fields
        answer = Response(body, status=exc.status_code)
        if exc.status_code == 401:
            answer["WWW-Authenticate"] = 'Bearer realm="api"'
        if isinstance(exc, Throttled):
            answer["Retry-After"] = str(exc.retry_after)
            metrics_throttled(_view_name(context))
        elif type(exc) is ServiceUnavailable:
            answer["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return answer
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = _validation_body(exc)
    elif isinstance(exc, drf_exceptions.APIException):
        detail = exc.detail
        code = detail.code if hasattr(detail, "code") else exc.default_code
        response.data = {"detail": str(detail), "code": code}
        if isinstance(exc, drf_exceptions.Throttled):
            response.data["code"] = "throttled"
            metrics_throttled(_view_name(context))
    return response


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    """``handler500``: called while the uncaught exception is being handled (outside DRF: the
    middleware, the hosted pages, the health check), so it can still tell a database outage."""
    exc = sys.exc_info()[1]
    if database_unavailable(exc):
        assert exc is not None
        _log_database_unavailable(exc)
        unavailable = ServiceUnavailable()
        answer = JsonResponse({"detail": unavailable.detail, "code": unavailable.code}, status=503)
        answer["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return answer
    return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent):
        detail = (
            f"The request body has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
            if isinstance(exception, TooManyFieldsSent)
            else "The request body is larger than this service accepts "
            f"({settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)."
        )
        return JsonResponse({"detail": detail, "code": "request_too_large"}, status=413)
    return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)


def json_permission_denied(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    return JsonResponse({"detail": "Permission denied.", "code": "permission_denied"}, status=403)
