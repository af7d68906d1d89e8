"""/metrics: what is counted, and who may read it."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_sign_ins_failures_refreshes_reuse_and_throttles_are_counted(
    api: Any, user: Any, login: Any, settings: Any
) -> None:
    settings.IAM_METRICS_ALLOWED_IPS = ["127.0.0.1/32"]
    before = {
        "ok": _value("iam_logins_total", amr="pwd"),
        "bad": _value("iam_login_failures_total", reason="bad_password"),
        "refresh": _value("iam_refreshes_total"),
        "reuse": _value("iam_refresh_reuse_detected_total"),
        "throttled": _value("iam_throttled_total", view="LoginApi"),
        "latency": _value(
            "iam_http_request_duration_seconds_count",
            method="POST",
            route="api/auth/login/",
            status="200",
        ),
    }
    tokens = login(api).json()
    login(api, password="not the password, sorry")
    first = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").json()
    api.post("/api/auth/refresh/", {"refresh": first["refresh"]}, format="json")
    api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")  # reuse
    for _ in range(5):
        login(api, password="not the password, sorry")  # the per-account limit answers 429
    assert _value("iam_logins_total", amr="pwd") == before["ok"] + 1
    assert _value("iam_login_failures_total", reason="bad_password") >= before["bad"] + 1
    assert _value("iam_refreshes_total") == before["refresh"] + 2
    assert _value("iam_refresh_reuse_detected_total") == before["reuse"] + 1
    assert _value("iam_throttled_total", view="LoginApi") >= before["throttled"] + 1
    latency = _value(
        "iam_http_request_duration_seconds_count",
        method="POST",
        route="api/auth/login/",
        status="200",
    )
    assert latency == before["latency"] + 1
    page = api.get("/metrics")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/plain")
    assert b"iam_logins_total" in page.content
    assert b"iam_http_request_duration_seconds_bucket" in page.content


def test_only_allowed_scrapers_see_metrics(api: Any, db: Any, settings: Any) -> None:
    assert api.get("/metrics").status_code == 404  # nobody by default, not even loopback
    settings.IAM_METRICS_ALLOWED_IPS = ["127.0.0.1/32", "::1/128"]
    assert api.get("/metrics").status_code == 200
    outsider = api.get("/metrics", REMOTE_ADDR="203.0.113.5")
    assert outsider.status_code == 404
    assert outsider.json()["code"] == "not_found"
    settings.IAM_METRICS_TOKEN = "scrape-token-0123456789"
    bearer = {"HTTP_AUTHORIZATION": "Bearer scrape-token-0123456789"}
    assert api.get("/metrics", REMOTE_ADDR="203.0.113.5", **bearer).status_code == 200
    wrong = {"HTTP_AUTHORIZATION": "Bearer guess"}
    assert api.get("/metrics", REMOTE_ADDR="127.0.0.1", **wrong).status_code == 404
    settings.IAM_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert api.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert api.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    settings.IAM_METRICS_ENABLED = False
    assert api.get("/metrics", REMOTE_ADDR="10.1.2.3", **bearer).status_code == 404


def test_an_allowlist_entry_that_does_not_parse_is_a_startup_error(settings: Any) -> None:
    from django.core.checks import run_checks

    settings.IAM_METRICS_ALLOWED_IPS = ["10.0.0.0/8", "not-a-network"]
    assert "iam.E010" in {m.id for m in run_checks()}
