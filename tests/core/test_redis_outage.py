"""Rate limits when Redis goes away: a real redis-server on its own port, stopped and restarted.

The service keeps serving, every limit keeps applying per process, and the outage shows in the
log and in /readyz; once Redis is back, the limits are shared again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.core import ratelimit
from iam.core.ratelimit import ratelimit_cache
from iam.sessions import auth_state
from tests.conftest import PASSWORD, bearer, link_token, me
from tests.redis_server import REDIS_SERVER, RedisServer, free_port

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not REDIS_SERVER, reason="needs redis-server"),
]


@pytest.fixture
def redis_server(settings: Any) -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    settings.CACHES = _caches(f"{server.url}/0")
    try:
        yield server
    finally:
        server.close()
        ratelimit_cache.reset()


def _caches(location: str, prefix: str = "") -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }


def _anon_rate(settings: Any, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "anon": rate,
        },
    }


def _redis_keys(server: RedisServer) -> list[str]:
    return [k.decode() for k in server.client().keys("*throttle_anon*")]


def test_limits_fall_back_per_process_while_redis_is_down_and_share_again_after(
    api: Any,
    user: Any,
    keys: Any,
    redis_server: RedisServer,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _anon_rate(settings, "3/hour")
    monkeypatch.setattr(ratelimit, "RETRY_SECONDS", 0.0)

    # Redis up: the counter lives in Redis
    for _ in range(3):
        assert api.get("/api/auth/csrf/").status_code == 204
    assert _redis_keys(redis_server)
    assert api.get("/api/auth/csrf/").status_code == 429
    assert api.get("/readyz").json()["status"] == "ok"

    # Redis down: still serving, limited per process, said in the log and in /readyz
    redis_server.stop()
    caplog.clear()
    for _ in range(3):
        assert api.get("/api/auth/csrf/").status_code == 204
    assert api.get("/api/auth/csrf/").status_code == 429
    assert any("per-process" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["cache"].startswith("degraded")
    assert "per process" in ready.json()["detail"]
    login = api.post(
        "/api/auth/login/",
        {"email": user.email, "password": PASSWORD, "transport": "body"},
        format="json",
        REMOTE_ADDR="10.0.0.50",
    )
    assert login.status_code == 200, login.content  # sign-in works without Redis
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
    assert me.status_code == 200

    # Redis back (empty: it keeps nothing on disk): counters are shared again
    redis_server.start()
    caplog.clear()
    assert api.get("/readyz").json()["status"] == "ok"
    assert api.get("/api/auth/csrf/").status_code == 204
    assert _redis_keys(redis_server)
    assert any("shared again" in r.getMessage() for r in caplog.records)


# --- issue 21: what works and what answers 503 while Redis is down -----------------------------


@pytest.fixture(params=["stopped", "never_answered"])
def redis_down(request: Any, settings: Any, api: Any, tokens: Any) -> Iterator[str]:
    """Redis configured but down: a real redis-server that served this process (connections
    and the invalidation subscription open) and was then stopped, or a port nobody answers on."""
    server = RedisServer()
    try:
        if request.param == "stopped":
            server.start()
            settings.CACHES = _caches(f"{server.url}/0")
            for _ in range(2):  # cached in Redis, then in this process, subscribed
                assert me(api, tokens["access"]).status_code == 200
            assert auth_state.local_state.sessions
            server.stop()
        else:
            settings.CACHES = _caches(f"redis://127.0.0.1:{free_port()}/0")
        yield request.param
    finally:
        server.close()
        ratelimit_cache.reset()


def test_the_issue_table_while_redis_is_down(api, user, tokens, outbox, redis_down):
    auth = bearer(tokens["access"])
    # what already worked
    assert me(api, tokens["access"]).status_code == 200
    login = api.post(
        "/api/auth/login/",
        {"email": user.email, "password": PASSWORD, "transport": "body"},
        format="json",
    )
    assert login.status_code == 200, login.content
    refresh = api.post("/api/auth/refresh/", {"refresh": login.json()["refresh"]}, format="json")
    assert refresh.status_code == 200, refresh.content
    reset = api.post("/api/auth/password/reset/", {"email": user.email}, format="json")
    assert reset.status_code == 202
    assert api.post("/api/auth/mfa/totp/setup/", {}, format="json", **auth).status_code == 200
    # sign-up: 201, the account and its verification mail, and the link works
    outbox.clear()
    body = {"email": "new@example.com", "password": PASSWORD}
    register = api.post("/api/auth/register/", body, format="json")
    assert register.status_code == 201, register.content
    assert [m.to for m in outbox] == [["new@example.com"]]
    verify = api.post("/api/auth/verify-email/", {"token": link_token(outbox[0])}, format="json")
    assert verify.status_code == 200, verify.content
    # a profile edit: 200, and saved
    edit = api.patch("/api/auth/me/", {"name": "Alice A."}, format="json", **auth)
    assert edit.status_code == 200, edit.content
    assert User.objects.get(pk=user.pk).name == "Alice A."
    assert me(api, tokens["access"]).json()["name"] == "Alice A."
    # logout: the documented 503, with the session ended
    logout = api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert logout.status_code == 503
    assert logout.json()["code"] == "revocation_not_propagated"
    assert me(api, tokens["access"]).status_code == 401
    # the shell
    User.objects.create_user(email="shell@example.com", password=PASSWORD)


def test_failed_broadcasts_are_resent_when_redis_answers_again(
    api, user, tokens, redis_server, django_capture_on_commit_callbacks
):
    """Redis comes back with what it held before the outage (persistence, a failover to a
    lagging replica): the logout made meanwhile must not come back to life from it."""
    assert me(api, tokens["access"]).status_code == 200  # cached in Redis
    key = auth_state._session_key(_sid(tokens["access"]))
    assert cache.get(key) not in (None, auth_state.REVOKED)
    redis_server.snapshot()
    redis_server.stop()
    with django_capture_on_commit_callbacks(execute=True):
        logout = api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert logout.status_code == 503
    assert auth_state.pending_broadcasts() == 1
    redis_server.start()
    assert cache.get(key) not in (None, auth_state.REVOKED)  # the old entry is back
    # the next request re-sends first (and is not answered from what it read before that)
    assert me(api, tokens["access"]).status_code == 401
    assert auth_state.pending_broadcasts() == 0
    assert cache.get(key) == auth_state.REVOKED  # for every other process too


def _sid(access: str) -> str:
    import jwt

    return jwt.decode(access, options={"verify_signature": False})["sid"]


def test_deployments_sharing_a_redis_server_do_not_drop_each_others_copies(redis_server):
    channels = {}
    for name, db, prefix in (("a", 0, "iam-a"), ("b", 0, "iam-b"), ("c", 1, "iam-a")):
        with override_settings(CACHES=_caches(f"{redis_server.url}/{db}", prefix)):
            channels[name] = auth_state._channel(auth_state._redis_client())
    assert len(set(channels.values())) == 3  # Redis channels ignore the database number
    probes = {}
    for name, channel in channels.items():
        probes[name] = redis_server.client().pubsub()
        probes[name].subscribe(channel)
        assert probes[name].get_message(timeout=2)["type"] == "subscribe"
    with override_settings(
        IAM_AUTH_STATE_CACHE="on", CACHES=_caches(f"{redis_server.url}/0", "iam-a")
    ):
        auth_state.session_state_revoked("some-session")
    got = probes["a"].get_message(timeout=2)
    assert got["data"] == b"s:some-session"
    assert probes["b"].get_message(timeout=0.2) is None
    assert probes["c"].get_message(timeout=0.2) is None
    for probe in probes.values():
        probe.close()


def test_the_mail_budget_counts_per_process_while_redis_is_down(
    api, keys, outbox, redis_server, settings
):
    settings.IAM_MAIL_BUDGET_PER_ADDRESS = 2
    User.objects.create_user(email="unverified@example.com", password=PASSWORD)
    redis_server.stop()
    for _ in range(3):
        resend = api.post(
            "/api/auth/verify-email/resend/", {"email": "unverified@example.com"}, format="json"
        )
        assert resend.status_code == 202, resend.content
    assert len(outbox) == 2  # the third is over the address's budget, counted in this process
    assert AuditEvent.objects.filter(type="system:mail:suppressed").count() == 1


def test_a_subscription_that_came_back_by_itself_drops_the_local_copy(
    api, tokens, redis_server, monkeypatch
):
    """redis-py may reconnect a broken subscription and subscribe again on its own, without an
    error: the messages published in between are lost, so the local copy must go."""
    for _ in range(2):
        assert me(api, tokens["access"]).status_code == 200
    local = auth_state.local_state
    assert local.sessions
    # revoked by another process while this one's connection was down (its message lost)
    cache.set(auth_state._session_key(_sid(tokens["access"])), auth_state.REVOKED, 60)
    real = local._pubsub.get_message
    again = [{"type": "subscribe", "pattern": None, "channel": b"-", "data": 1}]
    monkeypatch.setattr(
        local._pubsub, "get_message", lambda **kw: again.pop() if again else real(**kw)
    )
    # what a real reconnection leaves: something to read on the subscription's (new) socket, so
    # the request reads through redis-py instead of finding the subscription idle
    client = auth_state._redis_client()
    client.publish(auth_state._channel(client), "u:someone-else")
    deadline = time.monotonic() + 5
    while local._idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert me(api, tokens["access"]).status_code == 401
