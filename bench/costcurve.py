"""The cost curve as the user base grows (issue 16): what a sign-in, a refresh, ``/me``, the
session list and the daily cleanups cost with 1 k, 100 k and 1 M users and, at the last size,
10 M sessions and 10 M audit events.

    .venv/bin/python bench/costcurve.py                         # the whole curve
    .venv/bin/python bench/costcurve.py --users 1000,10000 --sessions 100000 --audit 100000

The database (``<BENCH_DB_PREFIX>costcurve``) is dropped, migrated and filled with set-based SQL
(``INSERT … SELECT generate_series``), rows shaped like real ones: copies of a real account,
session and audit event with their own ids, addresses, owners and times. Sessions and audit
events grow in proportion to the users (the last stage has ``--sessions`` and ``--audit``);
a tenth of the sessions ended before the retention cutoff, and the audit events span 400 days,
so that the cleanups have their daily share to delete.

At each size, for each operation, in-process through the WSGI application (``bench/inprocess``),
against one account among all the others:

* round trips to PostgreSQL per request (counted at the driver);
* shared buffers per request (``EXPLAIN (ANALYZE, BUFFERS)`` of every statement of one request,
  rolled back): pages read, whatever the machine's load; an index lookup grows with the depth of
  its B-tree (log n), a scan would grow with n;
* the median wall time over ``-n`` requests (noisy on a shared machine: the buffers say more).

``/me`` reads the database here (``IAM_AUTH_STATE_CACHE=off``): with Redis it reads nothing.
The JSON result goes to stdout and ``bench/var/costcurve.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent / "src"), str(BENCH_DIR.parent), str(BENCH_DIR)]

import inprocess  # noqa: E402  (bench/inprocess.py: the WSGI driver and the round-trip counter)
import run as bench_run  # noqa: E402

DOMAIN = "cost.example"


def log(message: str) -> None:
    print(f"[costcurve] {message}", file=sys.stderr, flush=True)


def configure() -> None:
    db_name = bench_run.db_name("costcurve")
    env = bench_run.iam_env()
    env.update(
        {
            "DATABASE_URL": bench_run.database_url(db_name),
            "IAM_AUTH_STATE_CACHE": "off",  # /me reads the database: its cost is what is measured
            "IAM_SESSION_RETENTION": str(7 * 24 * 3600),
            "IAM_AUDIT_RETENTION": str(365 * 24 * 3600),
        }
    )
    bench_run.recreate_database(db_name)
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0, interactive=False)
    call_command("rotate_signing_keys", verbosity=0)
    from django.contrib.auth import get_user_model

    user = get_user_model()(email=bench_run.USER_EMAIL, email_verified=True)
    user.set_password(bench_run.PASSWORD)
    user.save()


# --- filling ------------------------------------------------------------------------------


def _columns(model: Any) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if not f.generated]


def _copy_sql(model: Any, template_where: str, overrides: dict[str, str], extra_from: str) -> str:
    """``INSERT INTO table (...) SELECT <template row's columns, some replaced> FROM table t,
    <extra_from> WHERE <template_where>``."""
    table = model._meta.db_table
    columns = _columns(model)
    select = [overrides.get(c, f't."{c}"') for c in columns]
    return (
        f'INSERT INTO "{table}" ({", ".join(f'"{c}"' for c in columns)}) '
        f'SELECT {", ".join(select)} FROM "{table}" t, {extra_from} WHERE {template_where}'
    )


def count(model: Any) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{model._meta.db_table}"')
        return cursor.fetchone()[0]


def total_bytes(model: Any) -> int:
    """The table with its indexes and TOAST, on disk."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [model._meta.db_table])
        return cursor.fetchone()[0]


def fill(users: int, sessions: int, audit: int, template_session: str) -> dict[str, float]:
    """Top the three tables up to these sizes; seconds each took."""
    from django.db import connection

    from iam.accounts.models import User
    from iam.audit.models import AuditEvent
    from iam.sessions.models import DeviceSession

    seconds: dict[str, float] = {}
    template_user = f"t.email = '{bench_run.USER_EMAIL}'"
    with connection.cursor() as cursor:
        have = count(User)
        if users > have:
            started = time.monotonic()
            email = f"'u' || i || '@{DOMAIN}'"
            cursor.execute(
                _copy_sql(
                    User,
                    template_user,
                    {
                        "id": "gen_random_uuid()",
                        "email": email,
                        "email_key": f"encode(sha256(convert_to({email}, 'UTF8')), 'hex')",
                        "username": "NULL",
                        "username_key": "NULL",
                        "last_login": "NULL",
                    },
                    f"generate_series({have}, {users - 1}) i",
                )
            )
            cursor.execute(f'ANALYZE "{User._meta.db_table}"')
            seconds["users"] = time.monotonic() - started
        # the others' sessions and events belong to the synthetic accounts, spread evenly
        numbered = (
            f'(SELECT id, row_number() OVER () - 1 AS n FROM "{User._meta.db_table}" '
            f"WHERE email LIKE '%@{DOMAIN}') owners"
        )
        owners = max(1, users - 1)
        have = count(DeviceSession)
        if sessions > have:
            started = time.monotonic()
            cursor.execute(
                _copy_sql(
                    DeviceSession,
                    f"t.id = '{template_session}' AND owners.n = i % {owners}",
                    {
                        "id": "gen_random_uuid()",
                        "user_id": "owners.id",
                        "refresh_jti": "md5(i::text)",
                        "previous_refresh_jti": "''",
                        "rotated_at": "NULL",
                        # one in ten ended before the retention cutoff: the daily cleanup's share
                        "revoked_at": "CASE WHEN i % 10 = 0 THEN now() - interval '8 days' END",
                        "revoke_reason": "CASE WHEN i % 10 = 0 THEN 'logout' ELSE '' END",
                        "created_at": "now() - (i % 30) * interval '1 day'",
                    },
                    f"generate_series({have}, {sessions - 1}) i, {numbered}",
                )
            )
            cursor.execute(f'ANALYZE "{DeviceSession._meta.db_table}"')
            seconds["sessions"] = time.monotonic() - started
        have = count(AuditEvent)
        audit_table = AuditEvent._meta.db_table
        if audit > have:
            started = time.monotonic()
            cursor.execute(
                _copy_sql(
                    AuditEvent,
                    f't.id = (SELECT min(id) FROM "{AuditEvent._meta.db_table}") '
                    f"AND owners.n = i % {owners}",
                    {
                        "id": f"nextval(pg_get_serial_sequence('{audit_table}', 'id'))",
                        "user_id": "owners.id",
                        "session_id": "NULL",
                        "created_at": "now() - (i % 400) * interval '1 day'",
                    },
                    f"generate_series({have}, {audit - 1}) i, {numbered}",
                )
            )
            cursor.execute(f'ANALYZE "{AuditEvent._meta.db_table}"')
            seconds["audit"] = time.monotonic() - started
    return seconds


# --- measuring ----------------------------------------------------------------------------


def buffers_of(request: Any) -> tuple[int, int]:
    """(statements, shared buffers) of one real request, as PostgreSQL's ``auto_explain`` reports
    each statement it ran (``EXPLAIN (ANALYZE, BUFFERS)``, sent to this client as notices)."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    notices: list[str] = []

    def collect(diagnostic: Any) -> None:
        notices.append(diagnostic.message_primary or "")

    settings = (
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_analyze = on",
        "SET auto_explain.log_buffers = on",
        "SET auto_explain.log_timing = off",
        "SET auto_explain.log_format = 'json'",
        "SET client_min_messages = 'log'",
    )
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")  # the bench connects as a superuser
        for statement in settings:
            cursor.execute(statement)
    raw.add_notice_handler(collect)
    try:
        request()
    finally:
        raw.remove_notice_handler(collect)
        with connection.cursor() as cursor:
            cursor.execute("RESET client_min_messages")
            cursor.execute("SET auto_explain.log_min_duration = -1")
    pages = statements = 0
    for notice in notices:
        if "plan:" not in notice:
            continue
        plan = json.loads(notice.split("plan:", 1)[1])["Plan"]
        statements += 1
        pages += int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))
    return statements, pages


def measure(n: int, template_session: str) -> dict[str, Any]:
    wsgi = inprocess.Wsgi("iam")
    body = {"email": bench_run.USER_EMAIL, "password": bench_run.PASSWORD, "transport": "body"}

    def expect(result: tuple[int, dict], what: str) -> dict:
        if result[0] != 200:
            raise SystemExit(f"{what}: {result}")
        return result[1]

    tokens = expect(wsgi.call("POST", "/api/auth/login/", body), "login")
    chain = [tokens["refresh"]]

    def refresh() -> None:
        chain[0] = expect(
            wsgi.call("POST", "/api/auth/refresh/", {"refresh": chain[0]}), "refresh"
        )["refresh"]

    operations = {
        "refresh": refresh,
        "me": lambda: expect(wsgi.call("GET", "/api/auth/me/", token=tokens["access"]), "me"),
        "sessions": lambda: expect(
            wsgi.call("GET", "/api/auth/sessions/", token=tokens["access"]), "sessions"
        ),
        "login": lambda: expect(wsgi.call("POST", "/api/auth/login/", body), "login"),
    }
    results: dict[str, Any] = {}
    for name, request in operations.items():
        for _ in range(10):
            request()
        with inprocess.counting() as counts:
            times = []
            for _ in range(n):
                started = time.perf_counter()
                request()
                times.append(time.perf_counter() - started)
        statements, pages = buffers_of(request)
        results[name] = {
            "median_ms": round(statistics.median(times) * 1000, 3),
            "pg_round_trips": round(counts["pg"] / n, 2),
            "statements": statements,
            "shared_buffers": pages,
        }
    # the bench account keeps one session between sizes: its list does not grow with the runs
    from iam.sessions.models import DeviceSession

    DeviceSession.objects.filter(user__email=bench_run.USER_EMAIL).exclude(
        pk=template_session
    ).delete()
    # and their index entries go too: an index scan for the account would read them (dead)
    # until autovacuum comes by, which is the bench's own doing, not the table's size
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'VACUUM "{DeviceSession._meta.db_table}"')
    return results


def cleanups() -> dict[str, Any]:
    from iam.audit.services import audit_events_prune
    from iam.sessions.services import sessions_cleanup

    started = time.monotonic()
    sessions = sessions_cleanup()
    sessions_seconds = time.monotonic() - started
    started = time.monotonic()
    audit = audit_events_prune()
    audit_seconds = time.monotonic() - started
    return {
        "sessions_deleted": sessions,
        "sessions_seconds": round(sessions_seconds, 2),
        "audit_deleted": audit,
        "audit_seconds": round(audit_seconds, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="1000,100000,1000000")
    parser.add_argument("--sessions", type=int, default=10_000_000, help="at the last size")
    parser.add_argument("--audit", type=int, default=10_000_000, help="at the last size")
    parser.add_argument("-n", type=int, default=200, help="requests per operation and size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.users.split(",")]
    configure()
    inprocess.install_counters()
    from django.db import connection

    from iam.accounts.models import User
    from iam.audit.models import AuditEvent
    from iam.sessions.models import DeviceSession

    # the templates: one real session and one real audit event of the bench account
    inprocess.Wsgi("iam").call(
        "POST",
        "/api/auth/login/",
        {"email": bench_run.USER_EMAIL, "password": bench_run.PASSWORD, "transport": "body"},
    )
    template_session = str(DeviceSession.objects.get(user__email=bench_run.USER_EMAIL).pk)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs, PostgreSQL {version}",
        "stages": [],
    }
    for users in sizes:
        sessions = args.sessions * users // sizes[-1]
        audit = args.audit * users // sizes[-1]
        log(f"filling to {users} users, {sessions} sessions, {audit} audit events")
        seconds = fill(users, sessions, audit, template_session)
        log(f"filled in {seconds}")
        stage = {
            "users": count(User),
            "sessions": count(DeviceSession),
            "audit_events": count(AuditEvent),
            "fill_seconds": {k: round(v, 1) for k, v in seconds.items()},
            "operations": measure(args.n, template_session),
        }
        stage["bytes_per_row"] = {
            name: round(total_bytes(model) / max(1, count(model)))
            for name, model in (("users", User), ("sessions", DeviceSession), ("audit", AuditEvent))
        }
        stage["cleanup"] = cleanups()
        stage["after_cleanup"] = {
            "sessions": count(DeviceSession),
            "audit_events": count(AuditEvent),
        }
        log(json.dumps(stage))
        report["stages"].append(stage)
    out = BENCH_DIR / "var" / "costcurve.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
