from typing import Any

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from iam.core.crypto import random_id
from iam.core.exceptions import IAMError
from iam.core.ratelimit import ratelimit_cache

NO_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"


class FirstRefusalThrottling:
    """Throttles are checked in order and the first refusal answers: a request refused by a
    per-IP limit does not go on to create per-account counters (which would let a flood of new
    identifiers fill the store)."""

    def check_throttles(self, request: Request) -> None:
        for throttle in self.get_throttles():
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait())


class NoStoreAPIView(FirstRefusalThrottling, APIView):
    """Responses carry ``Cache-Control: no-store`` (every auth and account response).

    A constant header, not ``add_never_cache_headers``: that parses and merges header values and
    costs more than the whole rest of ``/me``'s response handling.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            # A method the endpoint does not have: 405 before authentication, limits or any
            # other work of the view (no allowance is spent, nothing is looked up).
            self.format_kwarg = self.get_format_suffix(**kwargs)
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def finalize_response(
        self, request: Request, response: HttpResponse, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = NO_STORE
        return response


class HealthzApi(APIView):
    """Liveness: the process answers. Touches nothing else."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # probes of load balancers and orchestrators

    @extend_schema(
        responses={200: inline_serializer("Health", {"status": serializers.CharField()})}
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyzApi(APIView):
    """Readiness: the database, the cache and an active signing key are usable."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # probes of load balancers and orchestrators

    @extend_schema(
        responses={
            200: inline_serializer(
                "Ready", {"status": serializers.CharField(), "checks": serializers.DictField()}
            ),
            503: inline_serializer(
                "NotReady",
                {
                    "status": serializers.CharField(),
                    "checks": serializers.DictField(),
                    "detail": serializers.CharField(),
                    "code": serializers.CharField(),
                },
            ),
        }
    )
    def get(self, request: Request) -> Response:
        from iam.tokens.keys import signing_key

        checks: dict[str, str] = {}
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        degraded = None
        try:
            probe = random_id()
            cache.set("iam:readyz", probe, 10)
            checks["cache"] = "ok" if cache.get("iam:readyz") == probe else "error: mismatch"
        except Exception as exc:
            # Still serving: rate limits count per process meanwhile (iam.core.ratelimit).
            ratelimit_cache.probe()
            checks["cache"] = f"degraded: {type(exc).__name__}"
            degraded = (
                "The shared cache is unreachable: rate limits count per process until it is "
                "back, and revocations may answer 503 revocation_not_propagated."
            )
        try:
            signing_key()
            checks["signing_key"] = "ok"
        except IAMError as exc:
            checks["signing_key"] = f"error: {exc.code}"
        except Exception as exc:
            checks["signing_key"] = f"error: {type(exc).__name__}"
        ready = all(value == "ok" or value.startswith("degraded") for value in checks.values())
        if not ready:
            body: dict[str, Any] = {"status": "unavailable", "checks": checks}
            body.update(detail="A dependency is not ready.", code="not_ready")
            return Response(body, status=503)
        if degraded:
            return Response({"status": "degraded", "checks": checks, "detail": degraded})
        return Response({"status": "ok", "checks": checks})
