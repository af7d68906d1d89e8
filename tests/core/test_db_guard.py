"""The dead-connection guard: a connection the server ended is replaced before a request uses
it, and a live one costs no round trip (no SELECT 1 per request)."""

from __future__ import annotations

import select

import pytest
from django.conf import settings
from django.db import connection, connections

from iam.core.db import connection_guard, connections_guard, peer_spoke, pool_check

postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


def test_production_settings_send_no_select_1_per_request():
    if connection.vendor == "postgresql":
        assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is False
    from django.core.signals import request_started

    assert any(r[1]() is connections_guard for r in request_started.receivers)


def wait_readable(raw) -> None:
    poller = select.poll()
    poller.register(raw.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    assert poller.poll(5000), "the server never told the client"


@postgresql
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_the_request():
    spare = connections.create_connection("default")  # a persistent connection of a worker
    try:
        spare.ensure_connection()
        pid = spare.connection.info.backend_pid
        assert not peer_spoke(spare.connection)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        wait_readable(spare.connection)
        assert peer_spoke(spare.connection)
        with pytest.raises(ConnectionError):
            pool_check(spare.connection)
        connection_guard(spare)
        assert spare.connection is None  # closed: the next use reconnects
        with spare.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] != pid
    finally:
        spare.close()


@postgresql
@pytest.mark.django_db(transaction=True)
def test_a_live_connection_is_kept_without_a_round_trip(monkeypatch):
    connection.ensure_connection()
    raw = connection.connection
    sent = []
    monkeypatch.setattr(type(raw), "execute", lambda *a, **k: sent.append(a))
    connections_guard()
    pool_check(raw)
    assert connection.connection is raw
    assert sent == []
