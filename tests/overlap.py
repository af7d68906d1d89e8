"""Proof that two transactions really overlapped (PostgreSQL), instead of a sleep that hopes so.

A test that races two requests holds one of them at a chosen point (its transaction open, a row
lock taken) and calls ``wait_until_blocked`` there: it returns once the other request's
database session waits for a lock this one holds, and fails the test if that never happens
(then the race was not run at all, and whatever the test asserts afterwards proves nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection

TIMEOUT = 15.0


def backend_pid() -> int:
    """The PostgreSQL backend of this thread's connection (opened if needed)."""
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def wait_until_blocked(waiter: Callable[[], int | None], *, timeout: float = TIMEOUT) -> None:
    """Return once the backend ``waiter()`` names waits for a lock held by this thread's
    transaction; ``AssertionError`` after ``timeout`` seconds. Asked on this thread's own
    connection, inside its transaction."""
    holder = backend_pid()
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            pid = waiter()
            if pid is not None:
                cursor.execute("SELECT %s = ANY(pg_blocking_pids(%s))", [holder, pid])
                if cursor.fetchone()[0]:
                    return
            time.sleep(0.005)
    raise AssertionError("the other transaction never waited for this one's lock: no overlap")
