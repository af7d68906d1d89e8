"""A guard against dead database connections that costs no round trip.

Django's ``CONN_HEALTH_CHECKS`` sends ``SELECT 1`` on the first use of a persistent connection in
every request: a round trip per request, on a refresh one of two. This guard asks the socket
instead: an idle PostgreSQL connection receives nothing unless the server ended it (a restart,
``pg_terminate_backend``, an idle timeout: PostgreSQL sends a FATAL error and closes, which makes
the socket readable). So before each request, a persistent connection whose socket has anything
to read is closed, and Django opens a fresh one when the request needs it. Anything benign that
made the socket readable costs a reconnect, never an error.

What neither this nor ``SELECT 1`` can tell from an idle socket is a peer that vanished without
a word (a network partition): ``SELECT 1`` would wait for the TCP timeout just like the request.
With ``DATABASE_POOL`` the same test is the pool's ``check`` of a connection it hands out.
"""

from __future__ import annotations

import select
from typing import Any

# With DATABASE_PREPARED_STATEMENTS: a connection prepares a statement on its 5th run (psycopg's
# own default; Django turns it off). Hot statements run thousands of times a minute; one-off
# ones (migrations, the admin) are never prepared and fill no server memory.
PREPARE_THRESHOLD = 5


def peer_spoke(raw: Any) -> bool:
    """Whether the server sent anything on this idle connection (or it is closed already)."""
    if raw is None or getattr(raw, "closed", True):
        return True
    try:
        fd = raw.fileno()
    except Exception:  # a broken connection has no socket to ask
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def connection_guard(wrapper: Any) -> None:
    """Close ``wrapper``'s persistent PostgreSQL connection if the server has ended it."""
    if wrapper.vendor != "postgresql" or wrapper.connection is None:
        return
    if wrapper.in_atomic_block or getattr(wrapper, "pool", None):
        return  # in use (tests' transactions), or the pool checks on checkout
    if peer_spoke(wrapper.connection):
        wrapper.close()


def connections_guard(**_: Any) -> None:
    """``request_started``: close persistent PostgreSQL connections the server has ended."""
    from django.db import connections

    for wrapper in connections.all(initialized_only=True):
        connection_guard(wrapper)


def pool_check(conn: Any) -> None:
    """``psycopg_pool`` ``check``: refuse a pooled connection the server has ended (the pool
    then hands out another), without a round trip."""
    if peer_spoke(conn):
        raise ConnectionError("the server ended this connection")
