"""One error shape for every error: ``{"detail": str, "code": str}`` plus ``fields`` for validation.

``fields`` maps a field name to a list of ``{"message", "code"}``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from iam.core.exceptions import IAMError, Throttled
from iam.core.metrics import metrics_throttled

log = logging.getLogger("iam.errors")


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
