"""Prometheus metrics: sign-ins, failures, refreshes, reuse detections, throttles, latency.

Counters follow the audit trail (``audit_logged`` calls ``metrics_audit_event`` for every event,
also those written in bulk SQL), throttles are counted where 429s are made, and request latency
by a middleware, labelled with the URL *pattern* (never the path, so ids do not explode the
label set). ``/metrics`` is served to the addresses in ``IAM_METRICS_ALLOWED_IPS`` or to a bearer
of ``IAM_METRICS_TOKEN``; anyone else gets a 404.

With several worker processes (gunicorn), set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
shared by the workers: every process then writes its samples there and ``/metrics`` adds them up.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from iam.core.conf import iam_settings
from iam.core.http import client_ip

LOGINS = Counter("iam_logins_total", "Sign-ins that issued tokens.", ["amr"])
LOGIN_FAILURES = Counter("iam_login_failures_total", "Failed sign-ins.", ["reason"])
MFA_CHALLENGES = Counter("iam_login_mfa_required_total", "Passwords that asked for a 2nd factor.")
MFA_CODE_FAILURES = Counter("iam_mfa_code_failures_total", "Wrong second-factor codes.")
REFRESHES = Counter("iam_refreshes_total", "Refresh-token rotations.")
REUSE = Counter("iam_refresh_reuse_detected_total", "Refresh tokens presented again (theft).")
LOCKOUTS = Counter("iam_login_lockouts_total", "Sign-in delays started.", ["scope"])
THROTTLED = Counter("iam_throttled_total", "Requests answered 429.", ["view"])
AUDIT_EVENTS = Counter("iam_audit_events_total", "Audit events by type.", ["type"])
REQUEST_SECONDS = Histogram(
    "iam_http_request_duration_seconds",
    "Request latency.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def metrics_audit_event(event_type: str, data: dict | None = None) -> None:
    """Count one audit event (``iam.audit.services.audit_logged`` calls this)."""
    AUDIT_EVENTS.labels(type=event_type).inc()
    data = data or {}
    if event_type == "user:login:succeeded":
        LOGINS.labels(amr="+".join(data.get("amr", ["pwd"]))).inc()
    elif event_type == "user:login:failed":
        LOGIN_FAILURES.labels(reason=str(data.get("reason", "unknown"))).inc()
    elif event_type == "user:login:mfa_required":
        MFA_CHALLENGES.inc()
    elif event_type == "user:mfa:code_rejected":
        MFA_CODE_FAILURES.inc()
    elif event_type == "session:refresh:rotated":
        REFRESHES.inc()
    elif event_type == "session:refresh:reuse_detected":
        REUSE.inc()
    elif event_type == "user:login:locked":
        LOCKOUTS.labels(scope=str(data.get("scope", "account"))).inc()


def metrics_throttled(view: str) -> None:
    THROTTLED.labels(view=view).inc()


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        REQUEST_SECONDS.labels(
            method=request.method if request.method in _METHODS else "other",
            route=route or "/",
            status=str(response.status_code),
        ).observe(time.perf_counter() - started)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _allowed(request: HttpRequest) -> bool:
    if not iam_settings.metrics_enabled:
        return False
    token = iam_settings.metrics_token
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())
    ip = client_ip(request)
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in net for net in metrics_networks())


def metrics_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``IAM_METRICS_ALLOWED_IPS`` parsed; entries that do not parse allow nothing (system check
    ``iam.E010`` reports them at startup)."""
    return metrics_networks_parse(iam_settings.metrics_allowed_ips)[0]


def metrics_networks_parse(
    entries: Iterable[str],
) -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], list[str]]:
    """``(the networks, the entries that are not an address or network)``."""
    networks, invalid = [], []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            invalid.append(entry)
    return networks, invalid


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for allowed scrapers only (404 for anyone else)."""
    if not _allowed(request):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    registry = DEFAULT_REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
