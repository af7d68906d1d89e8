"""Rate limits when Redis goes away: a real redis-server on its own port, stopped and restarted.

The service keeps serving, every limit keeps applying per process, and the outage shows in the
log and in /readyz; once Redis is back, the limits are shared again.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from iam.core import ratelimit
from iam.core.ratelimit import ratelimit_cache
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


class RedisServer:
    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(settings: Any) -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{server.port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    try:
        yield server
    finally:
        server.stop()
        ratelimit_cache.reset()


def _anon_rate(settings: Any, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "anon": rate,
        },
    }


def _redis_keys(server: RedisServer) -> list[str]:
    import redis

    return [k.decode() for k in redis.Redis(port=server.port).keys("*throttle_anon*")]


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
