"""A Redis outage across two real IAM processes (gunicorn), one database, one redis-server of the
test's own that it stops and brings back (issue 21; what is promised: docs/operations.md, "When
something goes wrong").

While Redis is down: sign-up (with its mail), verification, sign-in and a profile edit work on
either process; a logout answers 503 ``revocation_not_propagated`` and a deactivation from the
shell raises ``RevocationNotPropagated``, both saved and refused by both processes at once; the
limits count per process. Redis then comes back with what it held before the outage (as after a
restart with persistence or a failover): the logout's process re-sends what it could not send,
the repeated deactivation goes out, and both processes agree again, sharing changes at once.

The database: the suite's PostgreSQL test database when the suite runs on PostgreSQL, else a copy
of the SQLite test database in a file (``VACUUM INTO``) that both processes open.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from django.db import connection

from iam.accounts.hashers import IAMArgon2PasswordHasher
from iam.accounts.models import User
from tests.conftest import PASSWORD, SmtpInbox, link_token
from tests.redis_server import REDIS_SERVER, RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(not REDIS_SERVER, reason="needs redis-server"),
    pytest.mark.django_db(transaction=True),  # the processes see committed rows only
]


def _database_url(tmp: Path) -> str:
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
        return f"postgres://{settings['USER']}:{settings['PASSWORD']}@{host}/{settings['NAME']}"
    path = tmp / "iam.sqlite3"
    with connection.cursor() as cursor:  # the migrated test database, in a file
        cursor.execute("VACUUM INTO %s", [str(path)])
    return f"sqlite:///{path}"


class Iam:
    """One IAM process (gunicorn, one worker) and an HTTP client for it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application",
             "-b", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "2"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.url}: exited with {self.process.returncode}")
            try:
                if self.http.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.url} did not come up")

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def login(self, email: str) -> dict[str, Any]:
        response = self.http.post(
            "/api/auth/login/", json={"email": email, "password": PASSWORD, "transport": "body"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def me(self, tokens: dict[str, Any]) -> httpx.Response:
        return self.http.get(
            "/api/auth/me/", headers={"Authorization": f"Bearer {tokens['access']}"}
        )


class Outage:
    def __init__(self, tmp: Path, smtp_port: int, database_url: str) -> None:
        self.redis = RedisServer(tmp / "redis")
        self.redis.dir.mkdir()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(tmp)),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "SECRET_KEY": Fernet.generate_key().decode() * 2,
            "ALLOWED_HOSTS": "127.0.0.1",
            "IAM_VAR_DIR": str(tmp),
            "DATABASE_URL": database_url,
            "REDIS_URL": f"{self.redis.url}/0",
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "IAM_TASKS_BACKEND": "immediate",
            "IAM_ISSUER": "https://iam.example.com",
            "IAM_FRONTEND_URL": "https://app.example.com",
            "SECURE_SSL_REDIRECT": "false",
            "IAM_THROTTLE_LOGIN_IP": "1000/min",
            "IAM_THROTTLE_LOGIN_ACCOUNT": "1000/min",
            "IAM_THROTTLE_ANON": "100000/hour",
            "IAM_THROTTLE_ACCOUNT_MAIL": "3/hour",
            "LOG_LEVEL": "ERROR",
        }

    def shell(self, code: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


@pytest.fixture
def outage(
    tmp_path: Path, smtp_server: tuple[SmtpInbox, int], keys: Any, settings: Any
) -> Iterator[tuple[Outage, Iam, Iam]]:
    hashed = IAMArgon2PasswordHasher().encode(PASSWORD, "saltsaltsalt")  # what they verify
    for email in ("una@example.com", "vic@example.com"):
        User.objects.create(email=email, password=hashed, email_verified=True)
    setup = Outage(tmp_path, smtp_server[1], _database_url(tmp_path))
    setup.env["IAM_KEY_ENCRYPTION_KEYS"] = ",".join(settings.IAM_KEY_ENCRYPTION_KEYS)
    setup.redis.start()
    processes: list[Iam] = []
    try:
        processes = [Iam(setup.env), Iam(setup.env)]
        for process in processes:
            process.wait()
        yield setup, processes[0], processes[1]
    finally:
        for process in processes:
            process.stop()
        setup.redis.close()


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    from aiosmtpd.controller import Controller

    inbox, port = SmtpInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _not_propagated(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "revocation_not_propagated"


def _cached_session(redis: RedisServer, tokens: dict[str, Any]) -> Any:
    """What Redis holds for the session (django-redis: prefix "iam", version 1, pickled)."""
    import pickle

    import jwt

    sid = jwt.decode(tokens["access"], options={"verify_signature": False})["sid"]
    raw = redis.client().get(f"iam:1:iam:as:s:{sid}")
    return None if raw is None else pickle.loads(raw)


DEACTIVATE = (
    "from iam.accounts.models import User\n"
    "user = User.objects.get(email='vic@example.com')\n"
    "user.is_active = False\n"
    "user.save()\n"
)


def test_two_processes_through_a_redis_outage(outage, smtp_server):
    setup, a, b = outage
    inbox, _ = smtp_server

    # Redis up: both processes have the sessions of una and vic cached (Redis and local copy)
    una, vic = a.login("una@example.com"), b.login("vic@example.com")
    for process in (a, b, a, b):
        assert process.me(una).status_code == 200
        assert process.me(vic).status_code == 200
    setup.redis.snapshot()  # what Redis will come back with
    setup.redis.stop()

    # Redis down: sign-up to profile edit, across both processes
    assert a.http.get("/readyz").json()["status"] == "degraded"
    register = a.http.post(
        "/api/auth/register/", json={"email": "new@example.com", "password": PASSWORD}
    )
    assert register.status_code == 201, register.text
    mails = inbox.text_bodies()
    assert len(mails) == 1  # the verification mail arrived
    verify = b.http.post("/api/auth/verify-email/", json={"token": link_token(mails[0])})
    assert verify.status_code == 200, verify.text
    new = a.login("new@example.com")
    edit = b.http.patch(
        "/api/auth/me/", json={"name": "New Person"},
        headers={"Authorization": f"Bearer {new['access']}"},
    )  # fmt: skip
    assert edit.status_code == 200, edit.text
    assert a.me(new).json()["name"] == "New Person"

    # a logout: the documented 503, saved, refused by both at once (they read the database)
    _not_propagated(a.http.post("/api/auth/logout/", json={"refresh": una["refresh"]}))
    assert a.me(una).status_code == 401
    assert b.me(una).status_code == 401
    # a deactivation from the shell: RevocationNotPropagated, saved, refused by both at once
    deactivated = setup.shell(DEACTIVATE)
    assert deactivated.returncode != 0
    assert "RevocationNotPropagated" in deactivated.stderr
    assert a.me(vic).status_code == 401
    assert b.me(vic).status_code == 401

    # the limits still refuse, per process
    resend = {"email": "someone@example.com"}
    for _ in range(3):
        assert a.http.post("/api/auth/verify-email/resend/", json=resend).status_code == 202
    assert a.http.post("/api/auth/verify-email/resend/", json=resend).status_code == 429
    assert b.http.post("/api/auth/verify-email/resend/", json=resend).status_code == 202

    # Redis back, with the entries from before the outage (una's session and vic's row live)
    setup.redis.start()
    assert _cached_session(setup.redis, una) not in (None, "revoked")  # live again in Redis
    # the logout's process re-sends it with its next request; then nobody accepts it
    assert a.me(una).status_code == 401
    assert b.me(una).status_code == 401
    # the shell process is gone: its documented remedy is to save again, which goes out now
    again = setup.shell(DEACTIVATE)
    assert again.returncode == 0, again.stderr
    assert a.me(vic).status_code == 401
    assert b.me(vic).status_code == 401
    # and a change on one process is refused by the other at once again
    assert a.me(new).status_code == 200
    assert b.me(new).status_code == 200
    assert b.http.post("/api/auth/logout/", json={"refresh": new["refresh"]}).status_code == 204
    assert a.me(new).status_code == 401
    for process in (a, b):
        assert process.http.get("/readyz").json()["status"] == "ok"
