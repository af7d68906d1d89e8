from collections.abc import Callable, Sequence
from typing import Any

from django.contrib.auth.base_user import BaseUserManager
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from iam.core.crypto import random_id
from iam.core.exceptions import IAMError
from iam.core.ratelimit import ReadAhead, WindowTake, ratelimit_cache
from iam.core.throttles import AnonThrottle, LiveRateThrottle

NO_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"


class FirstRefusalThrottling(APIView):
    """Throttles are checked in order and the first refusal answers: a request refused by a
    per-IP limit does not go on to create per-account counters (which would let a flood of new
    identifiers fill the store).

    The limits counted one request at a time (``LiveRateThrottle.counted_exactly``: the small
    ones) are taken together in one round trip (``RateLimitCache.take_in_order``), in the same
    order and with the same first refusal; so are the keys ``limit_reads`` names (the view's
    lock states), available to the view as ``limits_read_ahead(request)``."""

    def get_throttles(self) -> list[Any]:
        """The view's throttles for this request: one exempt from safe methods is not built for
        a GET (``GET /me`` is the most frequent authenticated request)."""
        safe = self.request.method in SAFE_METHODS
        return [
            throttle()
            for throttle in self.throttle_classes
            if not (safe and getattr(throttle, "safe_methods_exempt", False))
        ]

    def limit_reads(self, request: Request) -> list[str]:
        """Keys of the rate-limit cache this view reads before its work (e.g. lock states),
        read in the limits' round trip. None by default."""
        return []

    def check_throttles(self, request: Request) -> None:
        planned: list[tuple[LiveRateThrottle, WindowTake]] = []
        for throttle in self.get_throttles():
            if isinstance(throttle, LiveRateThrottle) and throttle.counted_exactly():
                try:
                    take = throttle.planned_take(request, self)
                except Exception:  # an unreadable body (400, 415): the limits before still count
                    self._take_planned(request, planned, reads=())
                    raise
                if take is not None:
                    planned.append((throttle, take))
                continue
            self._take_planned(request, planned, reads=())  # the limits before this one first
            planned = []
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait() or 0.0)
        self._take_planned(request, planned, reads=self.limit_reads(request))

    def _take_planned(
        self,
        request: Request,
        planned: list[tuple[LiveRateThrottle, WindowTake]],
        *,
        reads: Sequence[str],
    ) -> None:
        if not planned and not reads:
            return
        taken = ratelimit_cache.take_in_order([take for _, take in planned], reads)
        if taken.refused is not None:
            throttle = planned[taken.refused][0]
            self.throttled(request, throttle.refused_at(*taken.counts[taken.refused]))
        if reads:
            request._request.__dict__[_READ_AHEAD] = ReadAhead(
                keys=frozenset(reads), found=taken.found
            )


_READ_AHEAD = "_iam_limits_read_ahead"


def limits_read_ahead(request: Request) -> ReadAhead | None:
    """What the view's ``limit_reads`` read with the limits of this request (None: nothing)."""
    return request._request.__dict__.get(_READ_AHEAD)


class NoStoreAPIView(FirstRefusalThrottling):
    """Responses carry ``Cache-Control: no-store`` (every auth and account response).

    A constant header, not ``add_never_cache_headers``: that parses and merges header values and
    costs more than the whole rest of ``/me``'s response handling.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            # A method the endpoint does not have: 405 before authentication, limits or any
            # other work of the view (no allowance is spent, nothing is looked up).
            self.format_kwarg = self.get_format_suffix(**kwargs)
            raise MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = NO_STORE
        return response


# --- the API kit every app's endpoints share ------------------------------------------------

# Input cap on any password field, before any hashing; the policy maximum
# (IAM_PASSWORD_MAX_LENGTH) is checked later.
PASSWORD_MAX = 4096
# The error shape of every 4xx/5xx answer, for the schema (``iam.core.errors`` produces it).
ERROR = inline_serializer(
    "Error", {"detail": serializers.CharField(), "code": serializers.CharField()}
)


def password_field(**kwargs: Any) -> serializers.CharField:
    """A password input: taken as typed (no trimming), capped before any hashing."""
    return serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False, **kwargs)


class NormalizedEmailField(serializers.EmailField):
    """An e-mail address as the account will store it (domain lower-cased, like
    ``normalize_email``), validated again after normalising: some characters grow when
    lower-cased (``İ`` is two), so a valid input can become an over-long address."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        normalized = BaseUserManager.normalize_email(value.strip())
        if normalized != value:
            self.run_validators(normalized)
        return normalized


class PublicAuthAPIView(NoStoreAPIView):
    """Endpoints that take credentials themselves: no ambient authentication, open to all."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle]


# What else ``/readyz`` checks besides the database and the cache, registered by the apps above
# core when they are ready (``iam.tokens``: "signing_key"): name -> a callable that raises when
# that part cannot serve.
_readiness_checks: dict[str, Callable[[], object]] = {}


def readiness_check_register(name: str, check: Callable[[], object]) -> None:
    _readiness_checks[name] = check


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
        for name, check in _readiness_checks.items():
            try:
                check()
                checks[name] = "ok"
            except IAMError as exc:
                checks[name] = f"error: {exc.code}"
            except Exception as exc:
                checks[name] = f"error: {type(exc).__name__}"
        ready = all(value == "ok" or value.startswith("degraded") for value in checks.values())
        if not ready:
            body: dict[str, Any] = {"status": "unavailable", "checks": checks}
            body.update(detail="A dependency is not ready.", code="not_ready")
            return Response(body, status=503)
        if degraded:
            return Response({"status": "degraded", "checks": checks, "detail": degraded})
        return Response({"status": "ok", "checks": checks})
