"""Benchmark runner: stock SimpleJWT (bench/stock) and the IAM, same harness, same run.

    .venv/bin/python bench/run.py --target stock --target iam --duration 10

For every target: (re)create its PostgreSQL database, run its setup, start gunicorn, check
the endpoints behave (auth required, rotation works), then measure with wrk

  * ping     unauthenticated DRF GET                                requests/s (HTTP 200 only)
  * me       GET with ``Authorization: Bearer <access>``            requests/s (HTTP 200 only)
  * refresh  POST refresh with rotation, one token chain per connection   refreshes/s
  * login    N sequential logins vs N in-process Argon2id verifies (t=2, m=19456 KiB, p=1)

and print a JSON summary on stdout (progress goes to stderr). Exit status 1 if any wrk run is
invalid (non-200 > 1 %, or no successful request).

A target is only data (``Target``): adding one means describing its WSGI module, environment,
setup commands, endpoint paths and login body.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
GUNICORN = VENV_BIN / "gunicorn"
WRK_DIR = BENCH_DIR / "wrk"
VAR_DIR = BENCH_DIR / "var"

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", "5432", "postgres"
USER_EMAIL = "bench@example.com"
USERNAME = "bench"
PASSWORD = "bench-password-123"
ARGON2_PARAMS = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
MAX_NON_200_FRACTION = 0.01


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# Every database the bench creates (and drops) is named <prefix><target>: bench_stock, bench_iam,
# bench_floor, bench_inprocess by default. Never iam_<name>: those belong to the test suites.
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "bench_")
if not re.fullmatch(r"bench_[a-z0-9_]*", DB_PREFIX):
    raise SystemExit("BENCH_DB_PREFIX must match bench_[a-z0-9_]* (e.g. bench_alice_)")


def db_name(target: str) -> str:
    return f"{DB_PREFIX}{target}"


def database_url(db_name: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{db_name}"


# --------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    db_name: str
    cwd: Path  # gunicorn --chdir and cwd of setup commands
    wsgi_app: str
    ping_path: str  # unauthenticated DRF view
    me_path: str  # bearer-authenticated DRF view
    login_path: str
    refresh_path: str
    login_body: dict
    make_env: Callable[[], dict[str, str]]  # extra environment, built once per run
    setup_commands: list[list[str]]  # run in cwd with that environment, after createdb
    # label -> SQL count, sampled before/after each refresh run (proves rotation writes rows)
    count_queries: dict[str, str] = field(default_factory=dict)
    # True if re-using a rotated refresh token must be rejected right away (no grace period)
    reuse_must_fail: bool = False


def stock_env() -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(db_name("stock")),
        "DJANGO_SETTINGS_MODULE": "stock_settings",
        "PYTHONPATH": str(BENCH_DIR / "stock"),
        "SECRET_KEY": secrets.token_urlsafe(50),
    }


def iam_env() -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {
        "DATABASE_URL": database_url(db_name("iam")),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "IAM_KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The production shape: PostgreSQL for the truth, Redis as the shared cache.
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
        # A key space of this run's own: counters an earlier run (or bench/inprocess.py, which
        # shares the database) left in the last minute must not refuse this run's logins.
        "CACHE_KEY_PREFIX": f"bench-{secrets.token_hex(4)}",
        # DEBUG off defaults to SECURE_SSL_REDIRECT=True: every plain-HTTP request would be a 301.
        "SECURE_SSL_REDIRECT": "false",
        "IAM_THROTTLE_LOGIN_IP": "100000/min",
        "IAM_THROTTLE_LOGIN_ACCOUNT": "100000/min",
        "IAM_THROTTLE_REFRESH_SESSION": "1000000/min",
        "IAM_THROTTLE_ANON": "100000000/hour",
        "IAM_THROTTLE_USER": "100000000/hour",
        "IAM_LOCKOUT_FREE_ATTEMPTS": "1000000",
        "IAM_LOCKOUT_IP_FREE_ATTEMPTS": "1000000",
        # production checks: a real mailer (never used here) and an https front end
        "EMAIL_URL": "smtp://127.0.0.1:2525",
        "IAM_FRONTEND_URL": "https://app.example.com",
        "IAM_TASKS_BACKEND": "database",
    }
    if os.environ.get("BENCH_EXACT_LIMITS"):
        # below 200 per period a limit is counted one request at a time in Redis, as
        # production's small limits are (5 logins/min, 100 anonymous requests/hour); above, in
        # leases of 1 % (one Redis call per block). A login phase stays far below 199/min.
        env.update(
            dict.fromkeys(
                ("IAM_THROTTLE_LOGIN_IP", "IAM_THROTTLE_LOGIN_ACCOUNT", "IAM_THROTTLE_ANON"),
                "199/min",
            )
        )
    return env


def floor_env() -> dict[str, str]:
    return {"DATABASE_URL": database_url(db_name("floor"))}


def floor_django_env() -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(db_name("floor_django")),
        "DJANGO_SETTINGS_MODULE": "floor_django_settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }


def floor_rs256_env() -> dict[str, str]:
    return {"DATABASE_URL": database_url(db_name("floor_rs256")), "FLOOR_REFRESH_ALG": "RS256"}


def floor_target(name: str, wsgi_app: str, make_env: Callable[[], dict[str, str]]) -> Target:
    """A target served from ``bench/floor``: the floor's paths, tables, user and setup."""
    return Target(
        name=name,
        db_name=db_name(name),
        cwd=BENCH_DIR / "floor",
        wsgi_app=wsgi_app,
        ping_path="/ping",
        me_path="/me",
        login_path="/login",
        refresh_path="/refresh",
        login_body={"email": USER_EMAIL, "password": PASSWORD},
        make_env=make_env,
        setup_commands=[[str(PYTHON), "floor_app.py", USER_EMAIL, PASSWORD]],
        count_queries={
            "revoked_sessions": "SELECT count(*) FROM floor_session WHERE revoked_at IS NOT NULL",
            "audit_events": "SELECT count(*) FROM floor_audit",
        },
        reuse_must_fail=True,
    )


TARGETS: dict[str, Target] = {
    "stock": Target(
        name="stock",
        db_name=db_name("stock"),
        cwd=BENCH_DIR / "stock",
        wsgi_app="stock_wsgi:application",
        ping_path="/api/ping/",
        me_path="/api/me/",
        login_path="/api/token/",
        refresh_path="/api/token/refresh/",
        login_body={"username": USERNAME, "password": PASSWORD},
        make_env=stock_env,
        setup_commands=[[str(PYTHON), str(BENCH_DIR / "stock" / "setup_db.py")]],
        count_queries={
            "outstanding_tokens": "SELECT count(*) FROM token_blacklist_outstandingtoken",
            "blacklisted_tokens": "SELECT count(*) FROM token_blacklist_blacklistedtoken",
        },
        reuse_must_fail=True,
    ),
    "iam": Target(
        name="iam",
        db_name=db_name("iam"),
        cwd=REPO_ROOT,
        wsgi_app="config.wsgi:application",
        ping_path="/healthz",
        me_path="/api/auth/me/",
        login_path="/api/auth/login/",
        refresh_path="/api/auth/refresh/",
        login_body={"email": USER_EMAIL, "password": PASSWORD, "transport": "body"},
        make_env=iam_env,
        setup_commands=[
            [str(PYTHON), "manage.py", "migrate", "--no-input", "-v", "0"],
            [str(PYTHON), "manage.py", "rotate_signing_keys"],
            [
                str(PYTHON),
                "manage.py",
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model; "
                f"get_user_model().objects.create_user(email={USER_EMAIL!r}, "
                f"password={PASSWORD!r}, email_verified=True)",
            ],
        ],
        # One DeviceSession row per login, rotated in place: no row growth per refresh. A
        # non-zero revoked delta would mean reuse detection fired during the run.
        count_queries={
            "revoked_sessions": "SELECT count(*) FROM iam_sessions_devicesession"
            " WHERE revoked_at IS NOT NULL",
            "audit_events": "SELECT count(*) FROM iam_audit_auditevent",
        },
        reuse_must_fail=False,  # the IAM has a short reuse grace period (IAM_REFRESH_GRACE_SECONDS)
    ),
    # Not a product: the least work a login and a refresh can do under the locked
    # decisions (PyJWT RS256, one PostgreSQL statement, Argon2id), as a bare WSGI app. What it
    # cannot reach on a machine, nothing built with Django, DRF and SimpleJWT reaches there.
    "floor": floor_target("floor", "floor_app:app", floor_env),
    # The floor's work done with Django, DRF views and SimpleJWT tokens, and nothing the IAM
    # adds: what the stack itself costs (bench/floor/floor_django.py).
    "floor_django": floor_target("floor_django", "floor_django:application", floor_django_env),
    # The floor before refresh tokens became HS256 (issue 17): RS256 refresh tokens, i.e. one
    # RSA signature more per login and refresh. Kept to show the old floor beside the new one.
    "floor_rs256": floor_target("floor_rs256", "floor_app:app", floor_rs256_env),
}


# --------------------------------------------------------------------------------------------
# processes, database
# --------------------------------------------------------------------------------------------


def run_checked(cmd: list[str], env: dict[str, str], cwd: Path) -> None:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )


def recreate_database(db_name: str) -> None:
    pg = ["-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER]
    env = os.environ.copy()
    run_checked(["dropdb", *pg, "--if-exists", "--force", db_name], env, BENCH_DIR)
    run_checked(["createdb", *pg, db_name], env, BENCH_DIR)


def sql_count(db_name: str, query: str) -> int | None:
    """A count from psql; None (reported as null) if the query fails, e.g. a renamed table."""
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", db_name, "-tAc", query],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        log(f"count query failed: {query}: {out.stderr.strip()}")
        return None
    return int(out.stdout.strip())


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    log("wrk not found: apt-get install -y wrk")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed and apt-get did not provide it")
    return path


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Server:
    """gunicorn for one target; stopped (SIGTERM, then SIGKILL) on exit of the with-block."""

    def __init__(
        self, target: Target, env: dict[str, str], args: argparse.Namespace, port: int
    ) -> None:
        self.target, self.env, self.port = target, env, port
        self.log_path = VAR_DIR / f"gunicorn-{target.name}.log"
        self.cmd = [
            str(GUNICORN),
            "-w",
            str(args.workers),
            "-k",
            args.worker_class,
            "-b",
            f"127.0.0.1:{port}",
            "--chdir",
            str(target.cwd),
            "--backlog",
            "2048",
            "--error-logfile",
            "-",
            target.wsgi_app,
        ]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        if port_in_use(self.port):
            raise SystemExit(f"port {self.port} is already in use; pass --port")
        log(f"{self.target.name}: {' '.join(self.cmd)}  (log: {self.log_path})")
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.target.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        client = Client(self.port)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError):  # not listening yet
                if client.request("GET", self.target.ping_path)[0] == 200:
                    return
            time.sleep(0.2)
        raise SystemExit(f"server not ready after {timeout} s:\n{self.log_tail()}")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# HTTP client (stdlib; reconnects transparently when the server closes the connection)
# --------------------------------------------------------------------------------------------


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(
        self, method: str, path: str, body: dict | None = None, token: str | None = None
    ) -> tuple[int, dict | str]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # stale keep-alive connection: nothing reached the application, retry once
                self.conn.close()
                if attempt == 2:
                    raise
            except Exception:
                self.conn.close()  # reset http.client's state machine for the next request
                raise
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = raw.decode(errors="replace")[:300]
        return resp.status, payload


def login(client: Client, target: Target) -> dict:
    status, payload = client.request("POST", target.login_path, target.login_body)
    if status != 200 or not isinstance(payload, dict) or "refresh" not in payload:
        raise SystemExit(f"{target.name}: login failed: {status} {payload}")
    return payload


# --------------------------------------------------------------------------------------------
# checks and measurements
# --------------------------------------------------------------------------------------------


def sanity_check(client: Client, target: Target) -> dict:
    """Fail fast if a bench would measure something else than intended (401s, 301s...)."""

    def expect(cond: bool, what: str) -> None:
        if not cond:
            raise SystemExit(f"{target.name}: sanity check failed: {what}")

    status, _ = client.request("GET", target.ping_path)
    expect(status == 200, f"GET {target.ping_path} -> {status}")
    tokens = login(client, target)
    status, me = client.request("GET", target.me_path, token=tokens["access"])
    expect(status == 200, f"GET {target.me_path} with bearer -> {status} {me}")
    status, _ = client.request("GET", target.me_path)
    expect(status == 401, f"GET {target.me_path} without a token -> {status}, expected 401")
    r1 = tokens["refresh"]
    status, p1 = client.request("POST", target.refresh_path, {"refresh": r1})
    expect(status == 200 and isinstance(p1, dict), f"refresh -> {status} {p1}")
    r2 = p1.get("refresh")
    expect(bool(r2) and r2 != r1, "refresh did not rotate (no new refresh token)")
    reuse_status, _ = client.request("POST", target.refresh_path, {"refresh": r1})
    if target.reuse_must_fail:
        expect(reuse_status == 401, f"re-used rotated token -> {reuse_status}, expected 401")
    status, p2 = client.request("POST", target.refresh_path, {"refresh": r2})
    chain_ok = status == 200
    if target.reuse_must_fail:
        expect(chain_ok, f"refresh with the rotated token -> {status} {p2}")
    return {"me": me, "reused_rotated_refresh_status": reuse_status, "chain_after_reuse": status}


def run_wrk(wrk: str, script: str, url: str, seconds: int, conns: int, env: dict[str, str]) -> dict:
    cmd = [wrk, f"-t{conns}", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s"]
    cmd += ["-s", str(WRK_DIR / script), url]
    proc = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    match = re.search(r"^WRK_JSON (\{.*\})$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or not match:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(match.group(1))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", proc.stdout)
    result["wrk_requests_per_sec"] = float(rps.group(1)) if rps else None
    if not result["first_bad"]:
        del result["first_bad"]
    total = result["completed"] or 1
    bad = result["non_200"] + result.get("no_token", 0)
    result["non_200_fraction"] = round(bad / total, 5)
    result["valid"] = result["ok"] > 0 and bad / total <= MAX_NON_200_FRACTION
    return result


def paired_refresh_ratios(results: dict[str, dict], reference: str) -> dict[str, float]:
    """Each target's refreshes/s over ``reference``'s, round by round (median of the rounds)."""
    rounds = results[reference]["refresh_rps_rounds"]
    return {
        name: round(
            statistics.median(a / b for a, b in zip(r["refresh_rps_rounds"], rounds, strict=True)),
            4,
        )
        for name, r in results.items()
    }


def measure_logins(clients: dict[str, tuple[Client, Target]], n: int) -> dict[str, dict]:
    """N timed logins per target, each followed by an in-process Argon2id verify of the same
    cost; with several targets, login i of every target is timed before login i + 1 of any, so
    a slow stretch of the machine falls on all of them."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher(**ARGON2_PARAMS)
    encoded = hasher.hash(PASSWORD)
    # warm-up: connections, worker imports, caches, and statements a connection prepares on
    # their 5th run (psycopg's threshold; the IAM and the floor prepare, with 2 workers)
    for _ in range(12):
        for client, target in clients.values():
            login(client, target)
            hasher.verify(encoded, PASSWORD)
    timed: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in clients}
    for _ in range(n):
        for name, (client, target) in clients.items():
            login_s, hash_s = timed[name]
            t0 = time.perf_counter()
            login(client, target)
            login_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            hasher.verify(encoded, PASSWORD)
            hash_s.append(time.perf_counter() - t0)
    return {name: login_stats(*timed[name]) for name in clients}


def login_stats(login_s: list[float], hash_s: list[float]) -> dict:
    login_mean, hash_mean = statistics.fmean(login_s), statistics.fmean(hash_s)
    return {
        "n": len(login_s),
        "login_mean_ms": round(login_mean * 1000, 3),
        "login_median_ms": round(statistics.median(login_s) * 1000, 3),
        "argon2_verify_mean_ms": round(hash_mean * 1000, 3),
        "argon2_verify_median_ms": round(statistics.median(hash_s) * 1000, 3),
        "overhead_ms": round((login_mean - hash_mean) * 1000, 3),
        "overhead_ratio": round((login_mean - hash_mean) / hash_mean, 4),
        # the same from medians: one slow login (a GC pause, a neighbour) moves the mean of 30
        "overhead_median_ms": round(
            (statistics.median(login_s) - statistics.median(hash_s)) * 1000, 3
        ),
        # each login less the verify timed right after it, then the median: a stretch of slow
        # machine (CPU steal on a shared VM) moves both halves of a pair, not one side only
        "overhead_paired_median_ms": round(
            statistics.median(a - b for a, b in zip(login_s, hash_s, strict=True)) * 1000, 3
        ),
    }


def median_rps(runs: list[dict]) -> float:
    return round(statistics.median(r["ok_rps"] for r in runs), 2)


class TargetRun:
    """One target's database, server and wrk rounds."""

    def __init__(self, target: Target, args: argparse.Namespace, wrk: str, port: int) -> None:
        self.target, self.args, self.wrk, self.port = target, args, wrk, port
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **target.make_env()}
        self.base = f"http://127.0.0.1:{port}"
        self.runs: dict[str, list[dict]] = {"ping": [], "me": [], "refresh": []}

    def start(self, stack: contextlib.ExitStack) -> None:
        """Recreate the database, run the setup, start the server, check it, warm it up."""
        target, args = self.target, self.args
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        if args.reuse_db:
            log(f"{target.name}: reusing database {target.db_name}")
        else:
            log(f"{target.name}: recreating database {target.db_name}")
            recreate_database(target.db_name)
        for cmd in target.setup_commands:
            log(f"{target.name}: setup: {' '.join(cmd[1:3])} ...")
            run_checked(cmd, self.env, target.cwd)
        stack.enter_context(Server(target, self.env, args, self.port))
        self.client = Client(self.port)
        self.checks = sanity_check(self.client, target)
        self.me_env = {"WRK_TOKEN": login(self.client, target)["access"]}
        if args.warmup > 0:
            log(f"{target.name}: warm-up {args.warmup}s")
            self.wrk_run("get.lua", target.me_path, args.warmup, self.me_env)

    def wrk_run(self, script: str, path: str, seconds: int, env: dict[str, str]) -> dict:
        return run_wrk(self.wrk, script, self.base + path, seconds, self.args.connections, env)

    def round(self, i: int) -> None:
        target, duration = self.target, self.args.duration
        log(f"{target.name}: round {i + 1}/{self.args.repeat}: ping, me, refresh ({duration}s)")
        # a fresh access token each round: interleaved rounds outlast stock's 5-minute tokens
        self.me_env = {"WRK_TOKEN": login(self.client, target)["access"]}
        self.runs["ping"].append(self.wrk_run("get.lua", target.ping_path, duration, {}))
        self.runs["me"].append(self.wrk_run("get.lua", target.me_path, duration, self.me_env))
        # one distinct refresh-token chain per connection (-tN -cN)
        tokens_file = VAR_DIR / f"refresh-tokens-{target.name}.txt"
        chains = [login(self.client, target)["refresh"] for _ in range(self.args.connections)]
        tokens_file.write_text("\n".join(chains) + "\n")
        before = {k: sql_count(target.db_name, q) for k, q in target.count_queries.items()}
        refresh = self.wrk_run(
            "refresh.lua", target.refresh_path, duration, {"WRK_REFRESH_TOKENS": str(tokens_file)}
        )
        after = {k: sql_count(target.db_name, q) for k, q in target.count_queries.items()}
        refresh["db_count_delta"] = {
            k: None if None in (before[k], after[k]) else after[k] - before[k] for k in before
        }
        self.runs["refresh"].append(refresh)

    def result(self, logins: dict) -> dict:
        runs = self.runs
        ping, me, refresh = (median_rps(runs[k]) for k in ("ping", "me", "refresh"))
        # me and ping of one round ran back to back: their ratio is paired, so drift of the
        # machine between rounds (±10 % here) does not move it the way a ratio of two medians
        # moves
        paired = [m["ok_rps"] / p["ok_rps"] for m, p in zip(runs["me"], runs["ping"], strict=True)]
        return {
            "ping_rps": ping,
            "me_rps": me,
            "me_vs_ping": round(statistics.median(paired), 4),
            "me_vs_ping_rounds": [round(r, 4) for r in paired],
            "me_vs_ping_of_medians": round(me / ping, 4),
            "refresh_rps": refresh,
            "refresh_rps_rounds": [r["ok_rps"] for r in runs["refresh"]],
            "login": logins,
            "valid": all(r["valid"] for rs in runs.values() for r in rs),
            "checks": self.checks,
            "runs": runs,
        }


def bench_targets(targets: list[Target], args: argparse.Namespace, wrk: str) -> dict[str, dict]:
    """Every target in turn; with ``--interleave``, all servers up at once and round i of every
    target run before round i + 1 of any (and the logins likewise), so that the machine's drift
    over the run falls on every target alike."""
    groups = [targets] if args.interleave else [[target] for target in targets]
    results: dict[str, dict] = {}
    for group in groups:
        with contextlib.ExitStack() as stack:
            runs = [TargetRun(t, args, wrk, args.port + i) for i, t in enumerate(group)]
            for run in runs:
                run.start(stack)
            for i in range(args.repeat):
                for run in runs:
                    run.round(i)
            names = ", ".join(r.target.name for r in runs)
            log(f"{names}: login overhead ({args.logins} logins each)")
            logins = measure_logins(
                {r.target.name: (r.client, r.target) for r in runs}, args.logins
            )
            results.update({r.target.name: r.result(logins[r.target.name]) for r in runs})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark stock SimpleJWT and the IAM.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--target",
        action="append",
        choices=sorted(TARGETS),
        help="target to run; repeat for several (default: stock)",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (me)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; medians are reported")
    parser.add_argument("--connections", type=int, default=4, help="wrk -tN -cN")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn -w")
    parser.add_argument("--worker-class", default="sync", help="gunicorn -k")
    parser.add_argument("--port", type=int, default=8765, help="the first target's port")
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="all servers up at once (ports --port, --port + 1, ...); round i of every target "
        "before round i + 1 of any, logins likewise",
    )
    parser.add_argument("--logins", type=int, default=60, help="timed sequential logins")
    parser.add_argument(
        "--reuse-db", action="store_true", help="do not drop/recreate the databases"
    )
    parser.add_argument("--output", type=Path, help="also write the JSON summary here")
    parser.add_argument(
        "--exact-limits",
        action="store_true",
        help="the IAM's login limits counted one request at a time, as production's are "
        "(else in leases: a login then makes fewer Redis round trips than in production)",
    )
    args = parser.parse_args()
    if args.exact_limits:
        os.environ["BENCH_EXACT_LIMITS"] = "1"
    targets = args.target or ["stock"]
    wrk = ensure_wrk()

    results = bench_targets([TARGETS[name] for name in dict.fromkeys(targets)], args, wrk)
    summary: dict = {
        "config": {
            "duration_s": args.duration,
            "repeat": args.repeat,
            "wrk": f"-t{args.connections} -c{args.connections}",
            "gunicorn": f"-w {args.workers} -k {args.worker_class}",
            "argon2": ARGON2_PARAMS,
            "cpus": os.cpu_count(),
            "interleave": args.interleave,
            "exact_limits": args.exact_limits,
        },
        "targets": results,
    }
    if "stock" in results and len(results) > 1:
        stock_refresh = results["stock"]["refresh_rps"]
        summary["comparison"] = {
            **{
                f"refresh_rps_{name}_over_stock": round(r["refresh_rps"] / stock_refresh, 4)
                for name, r in results.items()
                if name != "stock"
            },
            "me_vs_ping": {k: v["me_vs_ping"] for k, v in results.items()},
            "login_overhead_ratio": {k: v["login"]["overhead_ratio"] for k, v in results.items()},
            "login_overhead_median_ms": {
                k: v["login"]["overhead_median_ms"] for k, v in results.items()
            },
            "login_overhead_paired_median_ms": {
                k: v["login"]["overhead_paired_median_ms"] for k, v in results.items()
            },
        }
    for reference in ("floor", "floor_django"):
        if args.interleave and reference in results:
            # round i of each target ran next to round i of the reference: a paired ratio per
            # round (the framework floor shows what the stack itself costs)
            summary.setdefault("comparison", {})[f"refresh_over_{reference}_paired"] = (
                paired_refresh_ratios(results, reference)
            )
    text = json.dumps(summary, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0 if all(r["valid"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
