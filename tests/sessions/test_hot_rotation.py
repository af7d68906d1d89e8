"""A refresh rewrites its session's row without touching an index (a HOT update on PostgreSQL),
and the daily cleanup still finds idle sessions by an index: the UTC day of their refresh
expiry, which the database keeps in ``refresh_expires_day``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from iam.core.conf import iam_settings
from iam.sessions.models import DeviceSession
from iam.sessions.services import _rotation_sql, sessions_cleanup

pytestmark = pytest.mark.django_db
TABLE = DeviceSession._meta.db_table
BENCH = Path(__file__).resolve().parents[2] / "bench"
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="heap-only updates are PostgreSQL's"
)


def refresh(api, token):
    return api.post("/api/auth/refresh/", {"refresh": token}, format="json")


def _indexed_columns() -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return {
        column
        for constraint in constraints.values()
        if constraint["index"] or constraint["unique"] or constraint["primary_key"]
        for column in constraint["columns"] or []
    }


def _rotation_writes() -> set[str]:
    set_clause = re.search(r"\bSET\b(.*?)\bFROM\b", _rotation_sql(), re.S)
    assert set_clause is not None
    return set(re.findall(r"(\w+)\s*=", set_clause.group(1)))


def test_no_index_holds_a_column_the_rotation_writes():
    written = _rotation_writes()
    assert {"refresh_jti", "refresh_expires_at", "last_used_at"} <= written
    assert written.isdisjoint(_indexed_columns())


def test_idle_sessions_are_found_by_an_index_on_their_expiry_day():
    assert "refresh_expires_day" in _indexed_columns()


def test_the_expiry_day_is_the_utc_day_of_the_refresh_expiry(api, user, login):
    with time_machine.travel(datetime(2026, 12, 8, 23, 30, tzinfo=UTC), tick=False):
        tokens = login(api).json()
    session = DeviceSession.objects.get()
    assert session.refresh_expires_at == datetime(2026, 12, 15, 23, 30, tzinfo=UTC)
    assert str(session.refresh_expires_day) == "2026-12-15"
    with time_machine.travel(datetime(2026, 12, 9, 0, 30, tzinfo=UTC), tick=False):
        assert refresh(api, tokens["refresh"]).status_code == 200
    session.refresh_from_db()
    assert session.refresh_expires_at == datetime(2026, 12, 16, 0, 30, tzinfo=UTC)
    assert str(session.refresh_expires_day) == "2026-12-16"


def test_cleanup_deletes_an_idle_session_only_once_its_retention_is_over(tokens):
    session = DeviceSession.objects.get()
    ended_idle = session.refresh_expires_at
    assert session.expires_at > ended_idle + iam_settings.session_retention  # not its absolute end
    over = ended_idle + iam_settings.session_retention
    # the cutoff a second before the expiry, and a second after it
    assert sessions_cleanup(now=over - timedelta(seconds=1)) == 0
    assert DeviceSession.objects.exists()
    assert sessions_cleanup(now=over + timedelta(seconds=1)) == 1
    assert not DeviceSession.objects.exists()


def test_cleanup_compares_days_in_utc_whatever_the_callers_zone(api, user, login):
    """An expiry just after midnight UTC, and a cutoff an hour later given in New York, where
    it is still the day before: the expiry's day is not after the cutoff's, in UTC."""
    with time_machine.travel(datetime(2026, 12, 1, 0, 30, tzinfo=UTC), tick=False):
        login(api)
    session = DeviceSession.objects.get()
    assert session.refresh_expires_at == datetime(2026, 12, 8, 0, 30, tzinfo=UTC)
    cutoff = datetime(2026, 12, 8, 1, 0, tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    assert cutoff.date().isoformat() == "2026-12-07"
    assert sessions_cleanup(now=cutoff + iam_settings.session_retention) == 1


@needs_postgresql
def test_the_table_leaves_room_on_each_page_for_the_new_row_version():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [TABLE])
        (options,) = cursor.fetchone()
    assert "fillfactor=80" in options


@needs_postgresql
@time_machine.travel(datetime(2026, 12, 8, 12, 0, tzinfo=UTC))  # far from a change of day
def test_a_refresh_is_a_heap_only_update(api, user, login):
    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
                [TABLE],
            )
            return cursor.fetchone()

    tokens = login(api).json()
    before = updates()
    for _ in range(3):
        response = refresh(api, tokens["refresh"])
        assert response.status_code == 200
        tokens = response.json()
    after = updates()
    assert after[0] - before[0] == 3  # three rotations, each one update of the row
    assert after[1] - before[1] == 3  # all three heap-only: no index entry written


@needs_postgresql
@pytest.mark.skipif(shutil.which("pgbench") is None, reason="needs pgbench")
@pytest.mark.django_db(transaction=True)  # no open transaction of ours holds old rows back
def test_rotations_of_many_sessions_stay_heap_only():
    """``bench/hot_rotation.sh`` on this schema: random rotations over a table of sessions, each
    its own transaction, as production makes them."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "FILLFACTOR"}
    env |= {"PGHOST": db["HOST"] or "127.0.0.1", "PGUSER": db["USER"]}
    env |= {"PGPORT": str(db["PORT"])} if db["PORT"] else {}
    env |= {"PGPASSWORD": db["PASSWORD"]} if db["PASSWORD"] else {}
    # fewer rotations than the pages have room for: the share does not depend on PostgreSQL
    # pruning old row versions, which any open snapshot in the database would hold back
    result = subprocess.run(
        ["bash", str(BENCH / "hot_rotation.sh"), db["NAME"], "10000", "300"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = re.search(r"fillfactor (\d+): 300 rotations, ([\d.]+) % heap-only", result.stdout)
    assert found, result.stdout
    assert found.group(1) == "80"
    assert float(found.group(2)) >= 95
