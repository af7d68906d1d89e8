"""``manage.py db_worker`` waits out a database outage instead of exiting (the library's worker
exits on the first one; tests/topology restarts a real PostgreSQL under it)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError
from django_tasks_db.management.commands import db_worker as library

from iam.core.management.commands import db_worker


def _worker() -> db_worker.Worker:
    return db_worker.Worker(
        queue_names=["default"], interval=1, batch=False, backend_name="default",
        startup_delay=True, max_tasks=None, worker_id="test", excluded_queue_names=[],
    )  # fmt: skip


def test_the_worker_polls_again_after_the_database_comes_back(monkeypatch):
    outcomes = [OperationalError("connection refused"), OperationalError("starting up"), None]
    waits: list[float] = []
    monkeypatch.setattr(db_worker.time, "sleep", waits.append)

    def library_run(self: library.Worker) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(library.Worker, "run", library_run)
    worker = _worker()
    worker.run()
    assert outcomes == []  # ran a third time, after two outages
    assert waits == [1.0, 2.0]  # backing off
    assert worker.startup_delay is False


def test_other_errors_still_end_the_worker(monkeypatch):
    def library_run(self: library.Worker) -> None:
        raise IntegrityError("a bug")

    monkeypatch.setattr(library.Worker, "run", library_run)
    with pytest.raises(IntegrityError):
        _worker().run()


def test_the_command_runs_this_worker(monkeypatch, settings):
    from django.core.management import call_command

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    ran: list[type] = []
    monkeypatch.setattr(db_worker.Worker, "run", lambda self: ran.append(type(self)))
    monkeypatch.setattr(db_worker.Worker, "configure_signals", lambda self: None)
    call_command("db_worker", "--no-reload")
    assert ran == [db_worker.Worker]
    assert library.Worker is not db_worker.Worker  # the library's name is restored
