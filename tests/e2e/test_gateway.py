"""End to end over loopback: the IAM (gunicorn), the example gateway and the example downstream
service (uvicorn) as real processes, talking HTTP.

Proves: a user's call goes through the gateway (with the user's own token where the upstream
accepts it, else with the gateway's service token); a tampered, expired or wrong-audience token is
refused by the downstream service without it calling the IAM; after a key rotation the downstream
service picks up the new key by itself.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "an end to end passphrase"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.iam_port, self.gateway_port, self.downstream_port = _port(), _port(), _port()
        self.iam = f"http://127.0.0.1:{self.iam_port}"
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        self.downstream = f"http://127.0.0.1:{self.downstream_port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(tmp)),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "SECRET_KEY": Fernet.generate_key().decode() * 2,
            "IAM_KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "IAM_VAR_DIR": str(tmp),
            "DATABASE_URL": f"sqlite:///{tmp / 'iam.sqlite3'}",
            "IAM_ISSUER": self.iam,
            "IAM_AUDIENCE": "iam-api",
            "SECURE_SSL_REDIRECT": "false",
            # production checks want a real mailer; this run sends no mail (no new-device sign-in)
            "EMAIL_URL": "smtp://127.0.0.1:9",
            "IAM_TASKS_BACKEND": "immediate",
            "IAM_KEY_CACHE_SECONDS": "1",
            "IAM_JWKS_MIN_REFETCH": "0.2",
            "IAM_FRONTEND_URL": "https://app.example.com",
            "IAM_THROTTLE_LOGIN_IP": "1000/min",
            "IAM_THROTTLE_LOGIN_ACCOUNT": "1000/min",
            "IAM_THROTTLE_ANON": "100000/hour",
        }
        self.processes: list[subprocess.Popen] = []
        self.other_client: dict[str, str] = {}  # a service client of another audience

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self, args: list[str], env: dict[str, str], health: str) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        _wait(health, process)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("e2e"))
    stack.manage("migrate", "--noinput")
    stack.manage("rotate_signing_keys")
    stack.manage(
        "shell",
        "-c",
        "from iam.accounts.models import User; "
        f"User.objects.create_user(email='user@example.com', password={PASSWORD!r}, "
        "email_verified=True)",
    )
    out = stack.manage(
        "create_service_client", "gateway", "--audience", "reports-api", "--scope", "reports:read"
    )
    creds = dict(line.split("=", 1) for line in out.split())
    out = stack.manage("create_service_client", "elsewhere", "--audience", "other-api")
    stack.other_client = dict(line.split("=", 1) for line in out.split())
    try:
        stack.start(
            ["gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{stack.iam_port}",
             "--workers", "1", "--threads", "4"],
            stack.env,
            f"{stack.iam}/healthz",
        )  # fmt: skip
        stack.start(
            ["uvicorn", "examples.downstream.app:app", "--port", str(stack.downstream_port)],
            stack.env,
            f"{stack.downstream}/healthz",
        )
        gateway_env = {
            **stack.env,
            "DOWNSTREAM_URL": stack.downstream,
            "GATEWAY_CLIENT_ID": creds["client_id"],
            "GATEWAY_CLIENT_SECRET": creds["client_secret"],
        }
        stack.start(
            ["uvicorn", "examples.gateway.app:app", "--port", str(stack.gateway_port)],
            gateway_env,
            f"{stack.gateway}/healthz",
        )
        yield stack
    finally:
        stack.stop()


def login(stack: Stack) -> str:
    response = httpx.post(
        f"{stack.iam}/api/auth/login/",
        json={"email": "user@example.com", "password": PASSWORD, "transport": "body"},
    )
    assert response.status_code == 200, response.text
    return response.json()["access"]


def fetches(stack: Stack) -> int:
    return httpx.get(f"{stack.downstream}/stats").json()["jwks_fetches"]


def header(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def test_a_user_call_goes_through_the_gateway(stack):
    access = login(stack)
    bearer = {"Authorization": f"Bearer {access}"}
    whoami = httpx.get(f"{stack.gateway}/api/whoami", headers=bearer)
    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["via"] == "user_token"  # the upstream accepts user tokens
    assert whoami.json()["email"] == "user@example.com"
    reports = httpx.get(f"{stack.gateway}/api/reports", headers=bearer)
    assert reports.status_code == 200, reports.text
    body = reports.json()
    assert body["via"] == "service_token"  # a user token never goes to reports-api
    assert body["caller"].startswith("svc_")
    assert body["on_behalf_of"] == whoami.json()["user_id"]
    # the browser way: the access cookie
    cookie = httpx.get(f"{stack.gateway}/api/whoami", cookies={"access_token": access})
    assert cookie.status_code == 200


def test_the_gateway_refuses_what_the_iam_would_refuse(stack):
    assert httpx.get(f"{stack.gateway}/api/reports").status_code == 401
    bad = httpx.get(f"{stack.gateway}/api/reports", headers={"Authorization": "Bearer x.y.z"})
    assert bad.status_code == 401


def test_bad_tokens_are_refused_by_the_downstream_without_calling_the_iam(stack):
    access = login(stack)
    good = {"Authorization": f"Bearer {access}"}
    assert httpx.get(f"{stack.downstream}/whoami", headers=good).status_code == 200
    before = fetches(stack)
    head, payload, signature = access.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = (
        base64.urlsafe_b64encode(json.dumps({**claims, "email": "admin@example.com"}).encode())
        .decode()
        .rstrip("=")
    )
    expired = stack.manage(
        "shell",
        "--no-imports",
        "-c",
        "import time; from iam.tokens.tokens import AccessToken; t = AccessToken(); "
        f"t['sub'] = {claims['sub']!r}; t['sid'] = {claims['sid']!r}; "
        "t['iat'] = int(time.time()) - 1200; t['exp'] = int(time.time()) - 600; print(t)",
    ).strip()
    for token, code in [
        (f"{head}.{forged}.{signature}", "token_invalid"),  # tampered payload
        (f"{head}.{payload}.{signature[:-4]}AAAA", "token_invalid"),  # tampered signature
        (expired, "token_expired"),
    ]:
        response = httpx.get(
            f"{stack.downstream}/whoami", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, (code, response.text)
        assert response.json()["code"] == code
    # a genuine service token issued for another audience is refused by the verifier
    other = httpx.post(
        f"{stack.iam}/api/oauth/token/",
        data={"grant_type": "client_credentials"},
        auth=(stack.other_client["client_id"], stack.other_client["client_secret"]),
    )
    assert other.status_code == 200, other.text
    elsewhere = {"Authorization": f"Bearer {other.json()['access_token']}"}
    for path in ("/reports", "/whoami"):
        response = httpx.get(f"{stack.downstream}{path}", headers=elsewhere)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["code"] == "wrong_audience"
    # and a valid user token is not a service token: the endpoint refuses its kind
    user_at_reports = httpx.get(f"{stack.downstream}/reports", headers=good)
    assert user_at_reports.status_code == 403
    assert user_at_reports.json()["code"] == "wrong_token_kind"
    assert fetches(stack) == before  # none of this asked the IAM anything


def test_after_a_key_rotation_the_downstream_picks_up_the_new_key(stack):
    old = login(stack)
    assert (
        httpx.get(
            f"{stack.downstream}/whoami", headers={"Authorization": f"Bearer {old}"}
        ).status_code
        == 200
    )
    before = fetches(stack)
    # Twice: the first promotes the prepublished next key (which verifiers already know: no
    # refetch is needed, that is the zero-downtime path); the second makes active a key the
    # downstream service has never seen.
    stack.manage("rotate_signing_keys", "--force")
    stack.manage("rotate_signing_keys", "--force")
    deadline = time.monotonic() + 10
    new = login(stack)
    while header(new)["kid"] == header(old)["kid"] and time.monotonic() < deadline:
        time.sleep(0.2)  # the IAM process reloads its key ring every IAM_KEY_CACHE_SECONDS
        new = login(stack)
    assert header(new)["kid"] != header(old)["kid"]
    response = httpx.get(f"{stack.downstream}/whoami", headers={"Authorization": f"Bearer {new}"})
    assert response.status_code == 200, response.text
    assert fetches(stack) > before  # it refetched the JWKS on the unknown kid, by itself
    # and the old key's tokens keep working until they expire (the retired key stays published)
    assert (
        httpx.get(
            f"{stack.downstream}/whoami", headers={"Authorization": f"Bearer {old}"}
        ).status_code
        == 200
    )
