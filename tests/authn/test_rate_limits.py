"""Request limits beyond sign-in: refresh per session, anonymous per IP, authenticated per user."""

from __future__ import annotations

from typing import Any

import pytest

from iam.tokens.tokens import RefreshToken

pytestmark = pytest.mark.django_db


def test_the_defaults_are_the_documented_ones(settings: Any) -> None:
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates["anon"] == "100/hour"
    assert rates["user"] == "1000/hour"
    assert rates["refresh_session"] == "10/min"
    assert rates["login_ip"] == rates["login_account"] == "5/min"
    assert rates["account_mail"] == "3/hour"
    assert rates["mfa_code"] == "5/min"


def test_ten_refreshes_per_session_per_minute(api: Any, tokens: dict, login: Any) -> None:
    refresh = tokens["refresh"]
    for _ in range(10):
        response = api.post("/api/auth/refresh/", {"refresh": refresh}, format="json")
        assert response.status_code == 200
        refresh = response.json()["refresh"]
    limited = api.post("/api/auth/refresh/", {"refresh": refresh}, format="json")
    assert limited.status_code == 429
    assert limited.json()["code"] == "throttled"
    assert int(limited["Retry-After"]) > 0
    other = login(api).json()  # another session of the same user is not affected
    assert (
        api.post("/api/auth/refresh/", {"refresh": other["refresh"]}, format="json").status_code
        == 200
    )
    compat = api.post("/api/token/refresh/", {"refresh": refresh}, format="json")
    assert compat.status_code == 429  # the compatible endpoint counts in the same bucket


def test_forged_refresh_tokens_cannot_spend_a_victims_allowance(
    api: Any, tokens: dict, keys: Any
) -> None:
    victim = RefreshToken(tokens["refresh"])
    header, payload, _ = tokens["refresh"].split(".")
    forged = f"{header}.{payload}.{'A' * 342}"  # the victim's sid, a bad signature
    statuses = [
        api.post("/api/auth/refresh/", {"refresh": forged}, format="json").status_code
        for _ in range(12)
    ]
    assert statuses == [401] * 10 + [429] * 2  # unusable tokens count per client IP
    assert victim["sid"]
    ok = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert ok.status_code == 200


def test_anonymous_requests_are_limited_per_ip(api: Any, db: Any) -> None:
    for _ in range(100):
        assert api.get("/api/auth/csrf/").status_code == 204
    limited = api.get("/api/auth/csrf/", HTTP_X_FORWARDED_FOR="198.51.100.7")  # spoofed
    assert limited.status_code == 429
    assert limited.json()["code"] == "throttled"
    assert int(limited["Retry-After"]) > 0
    assert api.get("/api/auth/csrf/", REMOTE_ADDR="10.0.0.99").status_code == 204


def test_health_probes_are_not_limited(api: Any, keys: Any) -> None:
    for _ in range(110):
        assert api.get("/healthz").status_code == 200
    assert api.get("/readyz").status_code == 200


def test_authenticated_requests_are_limited_per_user(
    api: Any, tokens: dict, settings: Any, login: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": "5/hour",
        },
    }
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    for _ in range(5):
        assert api.get("/api/auth/me/", **headers).status_code == 200
    limited = api.get("/api/auth/sessions/", REMOTE_ADDR="10.0.0.8", **headers)
    assert limited.status_code == 429  # per user, whichever IP and endpoint
    assert limited.json()["code"] == "throttled"


def test_generous_limits_are_counted_in_leases_never_late(
    api: Any, tokens: dict, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-user limit (1000/hour) costs one counter call per 10 requests; a process that
    starts afresh (another worker) takes a new block, so the limit can bite early, never late."""
    from iam.core import throttles
    from iam.core.ratelimit import ratelimit_cache

    calls = []
    real = ratelimit_cache.incr_window
    monkeypatch.setattr(
        ratelimit_cache, "incr_window", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    import time_machine
    from django.utils import timezone

    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    statuses = []
    clock = time_machine.travel(timezone.now(), tick=False)  # one hour window throughout
    clock.start()
    for i in range(1000):
        if i == 500:
            throttles.throttle_leases_clear()  # as if the next requests hit another worker
        statuses.append(api.get("/api/auth/me/", **headers).status_code)
    user_calls = [a for a in calls if ":user:" in str(a[0]) or "throttle_user" in str(a[0])]
    assert len(user_calls) <= 102
    assert statuses.count(200) >= 990  # at most one unused block per process refused early
    last = api.get("/api/auth/me/", **headers).status_code
    clock.stop()
    assert last == 429  # and never late


def test_a_wrong_method_is_405_and_spends_no_login_attempt(api: Any, user: Any, login: Any) -> None:
    for _ in range(6):
        response = api.get("/api/auth/login/")
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"
    assert login(api).status_code == 200  # the 5/min login allowance is untouched


def test_a_wrong_method_on_a_tenant_endpoint_does_no_work(
    api: Any, user: Any, login: Any, django_assert_num_queries: Any
) -> None:
    """Found in review: with the 405 answered after authentication and the tenant check, a
    wrong method on a tenant endpoint cost queries without spending any limit."""
    access = login(api, transport="body").json()["access"]
    with django_assert_num_queries(0):
        response = api.delete("/api/tenant/", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response["Cache-Control"].startswith("max-age=0")
