"""``manage.py db_worker``: django-tasks-db's worker, made to outlive a database outage.

The library's worker exits on the first database error that is not a locked SQLite file (a
PostgreSQL restart, a connection ended by the server, ``too many clients``). A deployment would
then send no mail until something restarted the worker. This command runs the same worker and,
when the database is unavailable, logs it, drops the connection, waits (1 s, doubling, at most
``MAX_WAIT`` s) and starts polling again. Any other error still ends the worker, as before.

A task that was running when the database went away stays claimed by this worker id; the
library has no reclaiming of its own (docs/operations.md, "When something goes wrong").
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django_tasks_db.management.commands import db_worker

log = logging.getLogger("iam.worker")

MAX_WAIT = 10.0


class Worker(db_worker.Worker):
    def run(self) -> None:
        wait = 1.0
        while self.running:
            try:
                super().run()
                return  # --batch or --max-tasks: the library's own way out
            except (OperationalError, InterfaceError) as exc:
                log.warning(
                    "database unavailable (%s); the worker polls again in %.0f s",
                    type(exc).__name__,
                    wait,
                )
                for connection in connections.all(initialized_only=True):
                    with contextlib.suppress(DatabaseError):  # a broken one may fail to close
                        connection.close()  # the library's loop opens a fresh one
                time.sleep(wait)
                wait = min(wait * 2, MAX_WAIT)
                # the library sleeps a random startup delay once; not again after an outage
                self.startup_delay = False


class Command(db_worker.Command):
    help = db_worker.Command.help + " (that waits out database outages)"

    def handle(self, *args: Any, **options: Any) -> None:
        original = db_worker.Worker
        db_worker.Worker = Worker  # type: ignore[misc]
        try:
            super().handle(*args, **options)
        finally:
            db_worker.Worker = original  # type: ignore[misc]
