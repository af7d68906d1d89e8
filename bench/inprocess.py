"""What one refresh, login, ``me`` or unauthenticated request costs the IAM, in-process.

Requests go through the WSGI application exactly as gunicorn calls it (``config.wsgi``: every
production middleware, DRF, the request_started/finished signals that manage the database
connection), against PostgreSQL and Redis, with no HTTP server and no load generator. Counted,
not timed, so the figures hold on a busy machine:

* round trips per request: PostgreSQL (statements, ``BEGIN``/``COMMIT``, the connection health
  check) and Redis (one per command or pipeline sent);
* the PostgreSQL backend's own CPU per request (``/proc/<pid>/schedstat`` of the backend serving
  the connection, when the server runs on this machine);
* the write-ahead log PostgreSQL wrote per request (``pg_current_wal_insert_lsn()`` before and
  after the measured requests);
* with ``--profile``: where the time goes (cProfile, pyinstrument, or py-spy sampling from
  outside the process), grouped by layer (middleware, DRF, throttles, ORM, SQL, tokens, audit,
  JSON);
* CPU instructions: ``--callgrind`` prints a callgrind command that counts only the measured
  requests (start-up, setup and warm-up are not collected); divide by ``-n``.

    .venv/bin/python bench/inprocess.py --op refresh -n 300
    .venv/bin/python bench/inprocess.py --op login -n 100 --profile cprofile
    .venv/bin/python bench/inprocess.py --op refresh --callgrind

The database is ``<BENCH_DB_PREFIX>inprocess`` (default ``bench_inprocess``), dropped and
created unless ``--reuse-db``; Redis is ``BENCH_REDIS_URL`` as in ``run.py``. Logins check the
password with a cheap hasher (MD5) unless ``--argon2``: what is left is the login beyond the hash.
``--target stock`` and ``--target floor`` run stock SimpleJWT and the floor in the same harness.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import repeat, starmap
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(REPO_ROOT / "src"), str(REPO_ROOT), str(BENCH_DIR)]

import run as bench_run  # noqa: E402  (bench/run.py: the same environment as the wrk bench)

USER_AGENT = "bench-inprocess/1.0"
CLIENT_IP = "127.0.0.1"


# --------------------------------------------------------------------------------------------
# counting round trips
# --------------------------------------------------------------------------------------------

COUNTS: Counter[str] = Counter()


def install_counters() -> None:
    """Count every round trip at the client library: psycopg statements and transaction
    commands, redis-py commands and pipelines (each ``send_packed_command`` is one round trip)."""
    import psycopg
    import psycopg._connection_base as pg_base
    from redis.connection import AbstractConnection

    def counted(cls: Any, name: str, label: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            COUNTS[label] += 1
            return original(self, *args, **kwargs)

        setattr(cls, name, wrapper)

    counted(psycopg.Cursor, "execute", "pg")
    counted(psycopg.Cursor, "executemany", "pg")
    counted(AbstractConnection, "send_packed_command", "redis")

    original_exec = pg_base.BaseConnection._exec_command

    def exec_command(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS["pg"] += 1  # BEGIN, COMMIT, ROLLBACK: a round trip each
        COUNTS["pg:" + bytes(command).split()[0].decode().lower()] += 1
        return original_exec(self, command, *args, **kwargs)

    pg_base.BaseConnection._exec_command = exec_command

    from django.db.backends.postgresql.base import DatabaseWrapper

    original_usable = DatabaseWrapper.is_usable

    def is_usable(self: Any) -> bool:
        COUNTS["pg:health_check"] += 1  # its SELECT 1 is counted by Cursor.execute
        return original_usable(self)

    DatabaseWrapper.is_usable = is_usable


# --------------------------------------------------------------------------------------------
# the application, called as a WSGI server calls it
# --------------------------------------------------------------------------------------------


class Wsgi:
    def __init__(self, target: str) -> None:
        if target == "stock":
            from stock_wsgi import application
        elif target == "floor":
            from floor_app import app as application
        elif target == "floor_django":
            from floor_django import application
        else:
            from config.wsgi import application

        self.app = application

    def call(
        self, method: str, path: str, body: dict | None = None, token: str | None = None
    ) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else b""
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8765",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": CLIENT_IP,
            "HTTP_HOST": "127.0.0.1:8765",
            "HTTP_USER_AGENT": USER_AGENT,
            "HTTP_ACCEPT": "application/json",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if body is not None:
            environ["CONTENT_TYPE"] = "application/json"
            environ["CONTENT_LENGTH"] = str(len(data))
        if token:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        status: list[str] = []

        def start_response(s: str, headers: list, exc_info: Any = None) -> None:
            status.append(s)

        result = self.app(environ, start_response)
        try:
            raw = b"".join(result)
        finally:
            if hasattr(result, "close"):  # as a WSGI server does (the floor returns a list)
                result.close()  # request_finished: what closes or keeps the DB connection
        return int(status[0].split()[0]), json.loads(raw) if raw else {}


# --------------------------------------------------------------------------------------------
# setup and the operations
# --------------------------------------------------------------------------------------------


def configure(args: argparse.Namespace) -> None:
    if args.target == "stock":
        configure_stock(args)
        return
    if args.target in ("floor", "floor_django"):
        configure_floor(args)
        return
    db_name = bench_run.db_name("inprocess")
    env = bench_run.iam_env()
    env["DATABASE_URL"] = bench_run.database_url(db_name)
    env.update(
        {
            key: value
            for key, value in (
                ("DATABASE_POOL", args.pool),
                ("DATABASE_CONN_MAX_AGE", args.conn_max_age),
                ("DATABASE_HEALTH_CHECK_QUERY", args.health_check_query),
            )
            if value is not None
        }
    )
    # the database outlives the run (--reuse-db, the callgrind run): so does its KEK
    kek_file = bench_run.VAR_DIR / f"{db_name}.kek"
    if not args.reuse_db or not kek_file.exists():
        bench_run.VAR_DIR.mkdir(parents=True, exist_ok=True)
        kek_file.write_text(env["IAM_KEY_ENCRYPTION_KEYS"])
        bench_run.recreate_database(db_name)
    env["IAM_KEY_ENCRYPTION_KEYS"] = kek_file.read_text()
    os.environ.update(env)

    import django

    django.setup()
    from django.conf import settings

    if not args.argon2:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from django.core.management import call_command

    if not args.reuse_db:
        call_command("migrate", verbosity=0, interactive=False)
    from iam.tokens.models import SigningKey

    families = len(getattr(SigningKey, "Algorithm", [None]))  # (runs on older trees too)
    if SigningKey.objects.filter(state="active").count() < families:
        call_command("rotate_signing_keys", stdout=io.StringIO())
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    from django.contrib.auth.hashers import get_hasher, identify_hasher

    user = user_model.objects.filter(email=bench_run.USER_EMAIL).first()
    if user is None:
        user = user_model(email=bench_run.USER_EMAIL, email_verified=True)
    # Only a new user, or a hash of another hasher, is saved: saving an existing user tombstones
    # its cached row for the auth state's TTL (60 s), and the requests measured (``me``) would
    # read the database instead of the cache a live process serves them from.
    try:
        same_hasher = identify_hasher(user.password).algorithm == get_hasher().algorithm
    except ValueError:  # a hash of a hasher this run does not load (an --argon2 run's)
        same_hasher = False
    if user._state.adding or not same_hasher:
        user.set_password(bench_run.PASSWORD)  # with this run's hasher
        user.save()
    from django.db import connections

    connections.close_all()


def configure_stock(args: argparse.Namespace) -> None:
    """Stock SimpleJWT (bench/stock) in the same harness: the baseline for the same counts."""
    db_name = bench_run.db_name("inprocess_stock")
    env = bench_run.stock_env()
    env["DATABASE_URL"] = bench_run.database_url(db_name)
    os.environ.update(env)
    sys.path.insert(0, str(BENCH_DIR / "stock"))
    if not args.reuse_db:
        bench_run.recreate_database(db_name)
    import django

    django.setup()
    from django.conf import settings

    if not args.argon2:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    if not args.reuse_db:
        call_command("migrate", verbosity=0, interactive=False)
    user, _ = get_user_model().objects.get_or_create(
        username=bench_run.USERNAME, defaults={"email": bench_run.USER_EMAIL}
    )
    user.set_password(bench_run.PASSWORD)
    user.save()
    from django.db import connections

    connections.close_all()


def configure_floor(args: argparse.Namespace) -> None:
    """The floor (bench/floor) in the same harness: the least work each request can do, counted
    the same way. Without ``--argon2`` its user's password is hashed with Argon2id at its
    smallest cost (t=1, 8 KiB), which takes microseconds: what is left is the login beyond the
    hash, as the IAM's MD5 run leaves it."""
    db_name = bench_run.db_name(f"inprocess_{args.target}")
    os.environ["DATABASE_URL"] = bench_run.database_url(db_name)
    if args.target == "floor_django":
        os.environ["DJANGO_SETTINGS_MODULE"] = "floor_django_settings"
    floor_dir = BENCH_DIR / "floor"
    sys.path.insert(0, str(floor_dir))
    if not args.reuse_db:
        bench_run.recreate_database(db_name)
    bench_run.run_checked(
        [sys.executable, "floor_app.py", bench_run.USER_EMAIL, bench_run.PASSWORD],
        dict(os.environ),
        floor_dir,
    )  # the key file, the tables and the user (the module reads the key when imported)
    if not args.argon2:
        import floor_app
        import psycopg
        from argon2 import PasswordHasher

        floor_app._HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(
                "UPDATE floor_user SET password = %s WHERE email = %s",
                [floor_app._HASHER.hash(bench_run.PASSWORD), bench_run.USER_EMAIL],
            )


PATHS = {
    "iam": {
        "ping": "/healthz",
        "me": "/api/auth/me/",
        "login": "/api/auth/login/",
        "refresh": "/api/auth/refresh/",
        "compat-refresh": "/api/token/refresh/",
    },
    "floor": {
        "ping": "/ping",
        "me": "/me",
        "login": "/login",
        "refresh": "/refresh",
    },
    "stock": {
        "ping": "/api/ping/",
        "me": "/api/me/",
        "login": "/api/token/",
        "refresh": "/api/token/refresh/",
        "compat-refresh": "/api/token/refresh/",
    },
}
PATHS["floor_django"] = PATHS["floor"]  # the floor's work at the floor's paths


def operation(op: str, wsgi: Wsgi, target: str) -> Callable[[], None]:
    """A callable doing one request of ``op`` (and checking it succeeded)."""
    paths = PATHS[target]
    if op not in paths:
        raise SystemExit(f"{target} has no {op} endpoint")
    if target == "stock":
        login_body = {"username": bench_run.USERNAME, "password": bench_run.PASSWORD}
    else:
        login_body = {"email": bench_run.USER_EMAIL, "password": bench_run.PASSWORD}
    if target == "iam":
        login_body["transport"] = "body"

    def expect(status: int, body: dict, what: str) -> dict:
        if status != 200:
            raise SystemExit(f"{what}: {status} {body}")
        return body

    if op == "ping":
        return lambda: expect(*wsgi.call("GET", paths["ping"]), "ping")
    if op == "login":
        return lambda: expect(*wsgi.call("POST", paths["login"], login_body), "login")
    tokens = expect(*wsgi.call("POST", paths["login"], login_body), "login")
    if op == "me":
        access = tokens["access"]
        return lambda: expect(*wsgi.call("GET", paths["me"], token=access), "me")
    if op in ("refresh", "compat-refresh"):
        path = paths[op]
        chain = [tokens["refresh"]]

        def refresh() -> None:
            body = expect(*wsgi.call("POST", path, {"refresh": chain[0]}), op)
            chain[0] = body["refresh"]

        return refresh
    raise SystemExit(f"unknown operation {op}")


# --------------------------------------------------------------------------------------------
# profiles: grouped by layer
# --------------------------------------------------------------------------------------------

# First match wins; matched against "file:function" of each frame (innermost layer counts).
LAYERS = [
    ("SQL (driver + server wait)", ("psycopg", "libpq")),
    ("Redis", ("redis/", "django_redis/", "hiredis", "'_socket.socket'")),
    ("RSA/HMAC sign + verify", ("cryptography", "openssl", "_hashlib", "'_hmac", "hmac.py")),
    ("JWT encode/decode (PyJWT, SimpleJWT)", ("jwt/", "rest_framework_simplejwt/")),
    ("JSON", ("json/", "_json")),
    ("audit + logging", ("iam/audit/", "logging/", "pythonjsonlogger/")),
    ("metrics", ("iam/core/metrics.py", "prometheus_client/")),
    ("throttles + limits", ("iam/authn/throttles.py", "iam/core/ratelimit.py", "throttles.py")),
    ("ORM (queries, model objects)", ("django/db/",)),
    ("DRF (request, parsers, serializers, views)", ("rest_framework/",)),
    ("middleware + Django request/response", ("django/",)),
    ("IAM code", ("iam/",)),
    ("the floor's own code", ("bench/floor/",)),
    ("the harness", ("bench/inprocess.py",)),
]


OTHER = "other (stdlib, C)"


def layer_of(filename: str) -> str:
    for name, needles in LAYERS:
        if any(needle in filename for needle in needles):
            return name
    return OTHER


def profile_cprofile(step: Callable[[], None], n: int) -> dict[str, Any]:
    """Self time per layer (each function's own time goes to its layer) and the top functions."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)  # CPU: a busy machine's waits excluded
    profiler.enable()
    for _ in range(n):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    per_layer: Counter[str] = Counter()
    total = 0.0
    for (filename, _line, func), (_cc, _nc, tottime, _ct, callers) in stats.stats.items():
        layer = layer_of(f"{filename}:{func}")
        total += tottime
        if layer != OTHER or filename != "~" or not callers:
            per_layer[layer] += tottime
            continue
        # a C function (getattr, isinstance, a socket read): its time counts for the layers of
        # its callers, in proportion to the time each caller spent in it
        weights = {key: entry[3] for key, entry in callers.items()}
        whole = sum(weights.values()) or 1.0
        for (c_file, _l, c_func), weight in weights.items():
            per_layer[layer_of(f"{c_file}:{c_func}")] += tottime * weight / whole
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
    return {
        "total_ms_per_request": round(total / n * 1000, 3),
        "layers_ms_per_request": {k: round(v / n * 1000, 3) for k, v in per_layer.most_common()},
        "layers_share": {k: round(v / total, 3) for k, v in per_layer.most_common()},
        "top_cumulative": out.getvalue(),
    }


def _sampled_requests(step: Callable[[], None], n: int) -> None:
    """The requests py-spy samples: only stacks through this frame are counted."""
    for _ in range(n):
        step()


# C work that PyJWT's algorithm objects do (OpenSSL), counted apart from PyJWT's Python
_SIGNATURE_FRAMES = ("RSAAlgorithm.sign", "RSAAlgorithm.verify", "HMACAlgorithm.sign")
_RS256_SIGN = "RSAAlgorithm.sign ("


def pyspy_attribution(
    lines: list[str], mark: str = "_sampled_requests"
) -> tuple[Counter[str], Counter[str]]:
    """py-spy's raw samples (``frame;frame;... count``, outermost frame first) of the stacks
    through ``mark`` (``_sampled_requests``; ``Wsgi.call`` for samples of a plain run):
    ``(samples per layer, samples per function)``. A sample
    counts for the layer of its innermost frame, the standard library's for the layer of its
    caller; a function counts once per sample however deep it recurses."""
    per_layer: Counter[str] = Counter()
    per_function: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        at = next((i for i, f in enumerate(frames) if f.startswith(f"{mark} (")), None)
        if at is None:
            continue  # start-up, warm-up, py-spy attaching
        frames = frames[at + 1 :]
        layer = OTHER
        for frame in reversed(frames):
            name, _, where = frame.partition(" (")
            if name in _SIGNATURE_FRAMES:
                layer = "RSA/HMAC sign + verify"
                break
            layer = layer_of(f"{where.rsplit(':', 1)[0]}:{name}")
            if layer != OTHER:
                break
        per_layer[layer] += int(count)
        for function in {frame.rsplit(":", 1)[0] + ")" for frame in frames}:
            per_function[function] += int(count)
    return per_layer, per_function


def rs256_sign_cpu_ms(rounds: int = 300) -> float:
    """CPU ms of one RS256 signature (RSA-2048, PKCS #1 v1.5, SHA-256) in this process."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = b"x" * 400  # about a token's signing input
    started = time.process_time()
    for _ in range(rounds):
        key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return (time.process_time() - started) / rounds * 1000


def scaled_by_signature(
    per_layer: Counter[str], sign_samples: int, sign_ms: float, signatures: int
) -> dict[str, float]:
    """Samples per layer in ms per request, where ``sign_samples`` (the samples of PyJWT's RSA
    signing frame) are ``signatures`` per request of ``sign_ms`` each. Every target makes the
    same signatures with the same key size, so on a machine whose speed drifts this compares
    targets where a second timed run would not (its drift lands on the target measured)."""
    if sign_samples <= 0 or signatures <= 0:
        return {}
    per_sample = sign_ms * signatures / sign_samples
    return {k: round(v * per_sample, 3) for k, v in per_layer.most_common()}


def layers_by_signature(
    per_layer: Counter[str], per_function: Counter[str], signatures: int
) -> dict[str, Any]:
    """``pyspy_attribution``'s counts scaled by the RS256 signature (``scaled_by_signature``),
    its CPU cost measured in this process, with the figures the scaling used."""
    sign_ms = rs256_sign_cpu_ms()
    sign_samples = sum(
        count for function, count in per_function.items() if function.startswith(_RS256_SIGN)
    )
    return {
        "signature_samples": sign_samples,
        "rs256_sign_cpu_ms": round(sign_ms, 3),
        "signatures_per_request": signatures,
        "layers_ms_per_request_by_signature": scaled_by_signature(
            per_layer, sign_samples, sign_ms, signatures
        ),
    }


# RS256 signatures per request, where each request makes the same number (stock SimpleJWT's
# refresh tokens are RS256 too): the yardstick of ``scaled_by_signature``
RS256_SIGNATURES = {
    ("iam", "login"): 1, ("iam", "refresh"): 1, ("iam", "compat-refresh"): 1,
    ("floor", "login"): 1, ("floor", "refresh"): 1,
    ("floor_django", "login"): 1, ("floor_django", "refresh"): 1,
    ("stock", "login"): 2, ("stock", "refresh"): 2, ("stock", "compat-refresh"): 2,
}  # fmt: skip


def profile_pyspy(step: Callable[[], None], n: int, signatures: int = 0) -> dict[str, Any]:
    """Sampled by py-spy from outside the process (``PY_SPY`` or ``py-spy`` on ``PATH``; not a
    dependency of the project): no hook runs in the profiled code, so a function that makes many
    calls is not overweighted, as it is under cProfile and pyinstrument. Samples are taken at
    fixed intervals of wall time, so the waits for PostgreSQL's answers are in (the SQL layer);
    a C function's time counts for the Python frame that called it (``pyspy_attribution``).
    The shares are then scaled to the wall time of ``n`` more requests, made without the
    sampler (so ``2 n`` requests are made: the round trips and times per request are counted
    over all of them); meaningful on a quiet machine. With ``signatures`` (RS256 signatures per
    request) the layers are also scaled by the signature's CPU cost measured here
    (``scaled_by_signature``), which holds on a machine whose speed drifts. If the sampler slows
    the process many times over (``wall_ms_per_request`` far above the CPU time; seen with the
    IAM on a slow VM), attach py-spy from outside instead (``bench/pyspy_layers.py``)."""
    import shutil
    import signal
    import subprocess
    import tempfile

    exe = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not exe:
        raise SystemExit("--profile py-spy: set PY_SPY or put py-spy on PATH (pip install py-spy)")
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "samples.txt"
        sampler = subprocess.Popen(
            [exe, "record", "--pid", str(os.getpid()), "--rate", "1000", "--format", "raw",
             "--full-filenames", "--output", str(raw_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            _sampled_requests(step, n)
        finally:
            sampler.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            _, err = sampler.communicate(timeout=60)
        if not raw_path.exists():
            raise SystemExit(f"py-spy wrote no samples: {err.decode(errors='replace')[-500:]}")
        lines = raw_path.read_text().splitlines()
    per_layer, per_function = pyspy_attribution(lines)
    sampled = sum(per_layer.values()) or 1
    started = time.perf_counter()
    _sampled_requests(step, n)  # again, not sampled: the wall time the shares are scaled to
    wall_ms = (time.perf_counter() - started) / n * 1000
    top = "\n".join(
        f"{count / sampled * 100:6.1f} %  {count / sampled * wall_ms:7.3f} ms  {function}"
        for function, count in per_function.most_common(80)
    )
    by_signature = layers_by_signature(per_layer, per_function, signatures) if signatures else {}
    return {
        "requests_made": 2 * n,  # the sampled ones and the ones the shares are scaled to
        "samples": sampled,
        **by_signature,
        "total_ms_per_request": round(wall_ms, 3),
        "layers_ms_per_request": {
            k: round(v / sampled * wall_ms, 3) for k, v in per_layer.most_common()
        },
        "layers_share": {k: round(v / sampled, 3) for k, v in per_layer.most_common()},
        "tree": "inclusive share of the samples, and wall ms per request at that share\n" + top,
    }


def profile_pyinstrument(step: Callable[[], None], n: int) -> dict[str, Any]:
    """Sampled wall time per layer: time in C functions counts for the Python frame calling
    them (an RSA signature for PyJWT's caller's layer is counted as cryptography's)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0001)
    profiler.start()
    for _ in range(n):
        step()
    session = profiler.stop()
    per_layer: Counter[str] = Counter()

    def walk(frame: Any, outer: str) -> None:
        # C functions and synthetic frames count for the layer that called them
        known = frame.file_path and not frame.file_path.startswith("<")
        layer = layer_of(f"{frame.file_path}:{frame.function}") if known else outer
        if layer == OTHER and outer != OTHER:
            layer = outer  # the stdlib (copy, uuid, ...) works for whoever called it
        per_layer[layer] += frame.time - sum(child.time for child in frame.children)
        for child in frame.children:
            walk(child, layer)

    walk(session.root_frame(), OTHER)
    total = sum(per_layer.values()) or 1.0
    return {
        "total_ms_per_request": round(total / n * 1000, 3),
        "layers_ms_per_request": {k: round(v / n * 1000, 3) for k, v in per_layer.most_common()},
        "layers_share": {k: round(v / total, 3) for k, v in per_layer.most_common()},
        "tree": profiler.output_text(unicode=False, color=False, show_all=False),
    }


def pg_connection(target: str) -> Any:
    """The open psycopg connection serving the target (None: none is open, or not PostgreSQL)."""
    if target == "floor":
        import floor_app

        conn = floor_app._conn
    else:
        from django.db import connection

        conn = connection.connection if connection.vendor == "postgresql" else None
    return None if conn is None or conn.closed else conn


def pg_backend_pid(target: str) -> int | None:
    """The PID of the PostgreSQL backend serving the target's connection (None: none is open)."""
    conn = pg_connection(target)
    return None if conn is None else int(conn.info.backend_pid)


def pg_wal_position(target: str) -> int | None:
    """Where PostgreSQL's write-ahead log ends now, in bytes (None: not PostgreSQL). Read on the
    target's own connection, outside the measured requests; the difference over a run is the
    WAL the requests wrote (with whatever else the server wrote meanwhile: a quiet server)."""
    conn = pg_connection(target)
    if conn is None:
        return None
    sql = "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"
    return int(conn.execute(sql).fetchone()[0])


def pg_backend_cpu(pid: int | None) -> float | None:
    """CPU seconds that backend has used so far (``/proc/<pid>/schedstat``, in nanoseconds);
    None unless the server runs on this machine and this user may read it."""
    if pid is None:
        return None
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def counting() -> Iterator[Counter[str]]:
    COUNTS.clear()
    snapshot: Counter[str] = Counter()
    yield snapshot
    snapshot.update(COUNTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--op", default="refresh", choices=["ping", "me", "login", "refresh", "compat-refresh"]
    )
    parser.add_argument(
        "--target", default="iam", choices=["iam", "stock", "floor", "floor_django"]
    )
    parser.add_argument("-n", type=int, default=200, help="measured requests")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", choices=["cprofile", "pyinstrument", "py-spy"])
    parser.add_argument("--argon2", action="store_true", help="hash logins with Argon2id")
    parser.add_argument("--reuse-db", action="store_true")
    parser.add_argument("--pool", help="DATABASE_POOL for this run (true/false)")
    parser.add_argument("--conn-max-age", help="DATABASE_CONN_MAX_AGE for this run")
    parser.add_argument(
        "--health-check-query", help="DATABASE_HEALTH_CHECK_QUERY for this run (true/false)"
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="print the callgrind command that counts the measured requests only",
    )
    parser.add_argument("--tree", type=Path, help="write the profile's tree/stats to this file")
    parser.add_argument(
        "--exact-limits",
        action="store_true",
        help="count every limit one request at a time, as production's small limits are "
        "(the bench's generous limits are otherwise counted in leases)",
    )
    args = parser.parse_args()

    if args.callgrind:
        base = [sys.executable, __file__, "--target", args.target, "--op", args.op, "--reuse-db"]
        if args.exact_limits:
            base.append("--exact-limits")
        for flag, value in (
            ("--pool", args.pool),
            ("--conn-max-age", args.conn_max_age),
            ("--health-check-query", args.health_check_query),
        ):
            if value is not None:
                base += [flag, value]
        print(
            "valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no "
            "--toggle-collect=deque_init "
            + " ".join([*base, "-n", str(args.n)])
            + "  # 'Collected : <instructions>' on stderr"
        )
        print(f"per request = Collected / {args.n} (only the measured requests are counted)")
        return 0

    configure(args)
    if args.exact_limits and args.target == "iam":
        from iam.core import throttles

        # production's limits (5 logins/min, 10 refreshes/min, 100 anonymous requests/hour) are
        # too small for leases: each request is counted in Redis on its own
        throttles.LEASE_FRACTION = 10**12
    install_counters()
    wsgi = Wsgi(args.target)
    step = operation(args.op, wsgi, args.target)
    for _ in range(args.warmup):
        step()
    backend = pg_backend_pid(args.target)
    wal_started = pg_wal_position(args.target)  # before the CPU baseline: its query not counted
    backend_started = pg_backend_cpu(backend)
    with counting() as counts:
        started, wall_started = time.process_time(), time.perf_counter()
        if args.profile == "cprofile":
            profile = profile_cprofile(step, args.n)
        elif args.profile == "pyinstrument":
            profile = profile_pyinstrument(step, args.n)
        elif args.profile == "py-spy":
            profile = profile_pyspy(step, args.n, RS256_SIGNATURES.get((args.target, args.op), 0))
        else:
            profile = None
            # the loop runs inside deque's C constructor, which nothing else here calls: under
            # callgrind --toggle-collect=deque_init (--callgrind) only these requests count
            deque(starmap(step, repeat((), args.n)), maxlen=0)
        cpu, wall = time.process_time() - started, time.perf_counter() - wall_started
    made = profile.pop("requests_made", args.n) if profile is not None else args.n
    backend_cpu = pg_backend_cpu(backend)
    wal_ended = pg_wal_position(args.target)  # after the CPU reading: its query not counted
    if backend_started is None or backend_cpu is None or pg_backend_pid(args.target) != backend:
        backend_ms = None  # not on this machine, or the connection was replaced meanwhile
    else:
        backend_ms = round((backend_cpu - backend_started) / made * 1000, 3)
    result: dict[str, Any] = {
        "target": args.target,
        "op": args.op,
        "n": args.n,
        "exact_limits": args.exact_limits,
        "per_request": {k: round(v / made, 3) for k, v in sorted(counts.items())},
        "cpu_ms_per_request": round(cpu / made * 1000, 3),
        # with the waits for PostgreSQL and Redis (meaningful on a quiet machine only)
        "wall_ms_per_request": round(wall / made * 1000, 3),
        # the PostgreSQL backend's own CPU (parse, plan, execute, commit): null unless the
        # server runs on this machine and one connection served every measured request
        "pg_backend_cpu_ms_per_request": backend_ms,
        # write-ahead log written per request (row versions, index entries, commit records)
        "pg_wal_bytes_per_request": None
        if wal_started is None or wal_ended is None
        else round((wal_ended - wal_started) / made),
    }
    if profile is not None:
        text = profile.pop("tree", None) or profile.pop("top_cumulative", None)
        result["profile"] = profile
        if args.tree and text:
            args.tree.write_text(text)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
