"""The production topology on one machine, on loopback: a PostgreSQL cluster of its own (initdb,
started and restarted by the harness), a redis-server of its own, a real SMTP sink, migrations
as a one-shot step, a ``db_worker`` sending the mail, and two IAM processes (gunicorn, two
workers each) on different ports. Nothing here touches the machine's shared PostgreSQL or Redis.

PostgreSQL refuses to run as root: when the harness runs as root, the cluster runs as the
``postgres`` system user (``runuser``), in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from tests.conftest import SmtpInbox
from tests.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
FAKETIME_LIB = next(iter(Path("/usr/lib").glob("*/faketime/libfaketime.so.1")), None)


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class Postgres:
    """A PostgreSQL cluster of the harness's own: ``restart()``, ``stop()``, ``start()``."""

    def __init__(self, max_connections: int = 40) -> None:
        assert PG_BIN is not None, "PostgreSQL's server binaries are not installed"
        self.base = Path(tempfile.mkdtemp(prefix="iam-topology-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.max_connections = max_connections
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                          "--auth=trust", "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.base}'\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\n"
                f"max_connections = {max_connections}\nsuperuser_reserved_connections = 3\n"
            )

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                          "-l", str(self.base / "server.log"), *args]),
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def url(self, user: str = "iam", database: str = "iam") -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "iam", user: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(self.url(user, database), autocommit=True, connect_timeout=5)

    def create_role_and_database(self) -> None:
        with self.connect("postgres") as conn:
            conn.execute("CREATE ROLE iam LOGIN")  # not a superuser: reserved slots are not its
            conn.execute("CREATE DATABASE iam OWNER iam")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


class Smtp:
    """A real SMTP server on a fixed loopback port that can be stopped and started again."""

    def __init__(self) -> None:
        self.inbox = SmtpInbox()
        self.port = free_port()
        self.controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def recipients(self) -> list[str]:
        return [rcpt for envelope in self.inbox.envelopes for rcpt in envelope.rcpt_tos]


class Process:
    """One long-running process of the topology, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)


class Iam(Process):
    """An IAM process: gunicorn with ``workers`` sync workers, and an HTTP client for it."""

    def __init__(
        self, name: str, env: dict[str, str], log_dir: Path, *, workers: int = 2,
        faketime: str | None = None, port: int | None = None,
    ) -> None:  # fmt: skip
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(env)
        if faketime is not None:
            assert FAKETIME_LIB is not None, (
                "libfaketime is not installed (apt-get install faketime)"
            )
            env.update(
                LD_PRELOAD=str(FAKETIME_LIB),
                FAKETIME=faketime,
                FAKETIME_FORCE_MONOTONIC_FIX="1",  # else time.sleep() fails with EINVAL
            )
        args = [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "-c", str(Path(__file__).with_name("gunicorn_conf.py")),
            "-b", f"127.0.0.1:{self.port}", "--workers", str(workers),
            "--worker-class", "sync", "--timeout", "30", "--graceful-timeout", "5",
        ]  # fmt: skip
        super().__init__(name, args, env, log_dir)
        self.http = httpx.Client(base_url=self.url, timeout=15)

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log}")
            try:
                if self.http.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up: see {self.log}")

    def workers(self) -> list[int]:
        """The pids of gunicorn's worker processes (children of the master)."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.popen.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(pid) for pid in out.split()]

    def rss_kib(self) -> dict[int, int]:
        """Resident memory of each worker, in KiB."""
        sizes = {}
        for pid in self.workers():
            with contextlib.suppress(FileNotFoundError):
                status = Path(f"/proc/{pid}/status").read_text()
                match = re.search(r"VmRSS:\s+(\d+)", status)
                if match:
                    sizes[pid] = int(match.group(1))
        return sizes

    def stop(self) -> None:
        self.http.close()
        super().stop()

    # --- the API, as a client uses it ---------------------------------------------------
    def login(self, email: str, password: str = PASSWORD, **extra: Any) -> httpx.Response:
        body = {"email": email, "password": password, "transport": "body", **extra}
        return self.http.post("/api/auth/login/", json=body)

    def tokens(self, email: str, **extra: Any) -> dict[str, Any]:
        response = self.login(email, **extra)
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, refresh: str) -> httpx.Response:
        return self.http.post("/api/auth/refresh/", json={"refresh": refresh})

    def me(self, access: str) -> httpx.Response:
        return self.http.get("/api/auth/me/", headers={"Authorization": f"Bearer {access}"})


class Topology:
    """Everything above, started in order; ``close()`` stops it all."""

    def __init__(self, *, iam_workers: int = 2) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="iam-topology-"))
        self.logs = ROOT / "var" / "topology"
        self.logs.mkdir(parents=True, exist_ok=True)
        for old in self.logs.glob("*.log"):
            old.unlink()
        self.pg = Postgres()
        self.redis = RedisServer(self.dir / "redis")
        self.redis.dir.mkdir()
        self.smtp = Smtp()
        self.iams: list[Iam] = []
        self.worker: Process | None = None
        self.extra: list[Process] = []
        self.iam_workers = iam_workers
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(self.dir)),
            "LANG": "C.UTF-8",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "SECRET_KEY": Fernet.generate_key().decode() * 2,
            "IAM_KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "IAM_VAR_DIR": str(self.dir),
            "DATABASE_URL": self.pg.url(),
            "DATABASE_CONNECT_TIMEOUT": "3",
            "REDIS_URL": f"{self.redis.url}/0",
            "EMAIL_URL": f"smtp://127.0.0.1:{self.smtp.port}",
            "IAM_TASKS_BACKEND": "database",
            "IAM_MAIL_RETRY_DELAY": "1",
            "IAM_MAIL_MAX_ATTEMPTS": "10",
            "IAM_ISSUER": "http://127.0.0.1",  # set to process A's URL once its port is known
            "IAM_FRONTEND_URL": "https://app.example.com",
            "SECURE_SSL_REDIRECT": "false",
            # key publication in seconds, so that a rotation converges within a test
            "IAM_JWKS_MAX_AGE": "2",
            "IAM_KEY_CACHE_SECONDS": "2",
            # bounded caches full early, so that a soak sees their steady state
            "IAM_TOKEN_CACHE_SIZE": "500",
            # limits a test can reach, per account; the soak spreads its sign-ins over accounts
            "IAM_THROTTLE_LOGIN_IP": "100000/min",
            "IAM_THROTTLE_LOGIN_ACCOUNT": "30/min",
            "IAM_THROTTLE_ANON": "1000000/hour",
            "IAM_THROTTLE_REFRESH_SESSION": "100000/min",
            "IAM_THROTTLE_OAUTH_IP": "100000/min",
            "IAM_THROTTLE_USER": "1000000/hour",
            "IAM_THROTTLE_REGISTER_IP": "1000/hour",
            "IAM_LOCKOUT_IP_FREE_ATTEMPTS": "100000",
            "LOG_LEVEL": "WARNING",
        }

    def manage(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env={**self.env, **env},
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)}: {result.stderr[-2000:]}")
        return result

    def shell(self, code: str) -> str:
        return self.manage("shell", "--no-imports", "-c", code).stdout

    def start(self) -> None:
        self.pg.start()
        self.pg.create_role_and_database()
        self.redis.start()
        self.smtp.start()
        port_a = free_port()
        self.env["IAM_ISSUER"] = f"http://127.0.0.1:{port_a}"
        # the one-shot step of a deployment: migrations and the first keys
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("rotate_signing_keys")
        self.worker = Process("db_worker", [sys.executable, "manage.py", "db_worker"],
                              self.env, self.logs)  # fmt: skip
        self.iams = [self.start_iam("iam-a", port=port_a), self.start_iam("iam-b")]

    def start_iam(self, name: str, *, port: int | None = None, **options: Any) -> Iam:
        iam = Iam(name, self.env, self.logs, workers=self.iam_workers, port=port, **options)
        iam.wait()
        return iam

    def users(self, emails: list[str]) -> None:
        """Verified accounts with the harness's password (hashed once, as the IAM hashes)."""
        self.shell(
            "from iam.accounts.models import User\n"
            "from django.contrib.auth.hashers import make_password\n"
            f"hashed = make_password({PASSWORD!r})\n"
            f"for e in {emails!r}:\n"
            "    if not User.objects.filter(email=e).exists():\n"
            "        User(email=e, password=hashed, email_verified=True).save()\n"
        )

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.pg.connect() as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def close(self) -> None:
        for process in [*self.iams, *self.extra]:
            process.stop()
        if self.worker is not None:
            self.worker.stop()
        self.smtp.stop()
        with contextlib.suppress(Exception):
            self.redis.close()
        self.pg.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def started(**options: Any) -> Iterator[Topology]:
    topology = Topology(**options)
    try:
        topology.start()
        yield topology
    finally:
        topology.close()
