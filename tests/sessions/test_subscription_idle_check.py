"""``LocalAuthState._idle``: a request skips redis-py's read of the invalidation channel only
when nothing can be pending. Attacked here with a socket pair standing in for the
subscription's connection (no Redis needed); ``test_local_auth_state`` does it on a real one."""

from __future__ import annotations

import os
import socket
import time
from types import SimpleNamespace

import pytest

from iam.sessions import auth_state
from iam.sessions.auth_state import LocalAuthState


def python_parser(unread: int = 0) -> SimpleNamespace:
    """The pure-Python parsers' shape: a buffer of bytes read from the socket, not parsed."""
    return SimpleNamespace(_buffer=SimpleNamespace(unread_bytes=lambda: unread))


def hiredis_parser(has_data: bool) -> SimpleNamespace:
    return SimpleNamespace(_reader=SimpleNamespace(has_data=lambda: has_data))


def state_on(sock: object, parser: object, **connection: object) -> LocalAuthState:
    state = LocalAuthState()
    fields = {
        "health_check_interval": 0,
        "next_health_check": 0.0,
        "should_reconnect": lambda: False,
        **connection,
    }
    state._pubsub = SimpleNamespace(
        connection=SimpleNamespace(_sock=sock, _parser=parser, **fields)
    )
    return state


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_quiet_socket_and_an_empty_parser_are_idle(pair):
    assert state_on(pair[0], python_parser())._idle()
    assert state_on(pair[0], hiredis_parser(has_data=False))._idle()


def test_bytes_redis_py_has_read_and_not_parsed_are_pending(pair):
    assert not state_on(pair[0], python_parser(unread=7))._idle()
    assert not state_on(pair[0], hiredis_parser(has_data=True))._idle()


def test_bytes_on_the_socket_are_pending(pair):
    ours, theirs = pair
    theirs.sendall(b">3\r\n$7\r\nmessage\r\n")
    assert not state_on(ours, python_parser())._idle()


def test_a_socket_closed_by_the_server_is_not_idle(pair):
    ours, theirs = pair
    theirs.close()
    assert not state_on(ours, python_parser())._idle()


def test_a_closed_socket_or_none_is_not_idle(pair):
    ours, _ = pair
    state = state_on(ours, python_parser())
    assert state._idle()
    ours.close()  # the poll registered on its number must not answer for another socket
    assert not state._idle()
    assert not state_on(None, python_parser())._idle()


def test_a_parser_it_does_not_know_is_not_idle(pair):
    assert not state_on(pair[0], object())._idle()
    assert not state_on(pair[0], SimpleNamespace(_reader=object()))._idle()


def test_tls_bytes_decrypted_and_not_read_are_pending(pair):
    quiet = pair[0]  # the socket itself has nothing: only the TLS layer does
    assert state_on(
        SimpleNamespace(pending=lambda: 0, fileno=quiet.fileno), python_parser()
    )._idle()
    tls = SimpleNamespace(pending=lambda: 12, fileno=quiet.fileno)
    assert not state_on(tls, python_parser())._idle()


def test_a_connection_flagged_to_reconnect_is_left_to_redis_py(pair):
    """A maintenance notice (RESP3) flags the connection; get_message reconnects it."""
    assert not state_on(pair[0], python_parser(), should_reconnect=lambda: True)._idle()


def test_a_closed_sockets_number_taken_by_a_quiet_socket_is_not_idle(pair):
    ours, _ = pair
    state = state_on(ours, python_parser())
    assert state._idle()  # polls ours's number from now on
    number = ours.fileno()
    other, peer = socket.socketpair()
    with other, peer:
        ours.close()
        os.dup2(other.fileno(), number)  # the number now names another, quiet socket
        try:
            assert not state._idle()
        finally:
            os.close(number)


def test_a_due_health_check_is_left_to_redis_py(pair):
    due = state_on(pair[0], python_parser(), health_check_interval=30, next_health_check=0.0)
    assert not due._idle()


def test_a_new_socket_after_a_reconnect_is_polled_itself(pair):
    ours, _ = pair
    state = state_on(ours, python_parser())
    assert state._idle()
    other, peer = socket.socketpair()
    with other, peer:
        peer.sendall(b"+PONG\r\n")
        state._pubsub.connection._sock = other
        assert not state._idle()


def _reading(answers: list, unread: list) -> LocalAuthState:
    """A state subscribed to a fake channel: ``get_message`` gives ``answers`` in turn, and
    redis-py's buffer holds ``unread`` bytes after each (the socket is never idle)."""
    state = LocalAuthState()
    state._pid = os.getpid()
    parser = SimpleNamespace(_buffer=SimpleNamespace(unread_bytes=lambda: unread.pop(0)))
    state._pubsub = SimpleNamespace(
        connection=SimpleNamespace(_sock=None, _parser=parser),
        get_message=lambda timeout: answers.pop(0),
    )
    state._proven(time.monotonic())  # a PING answered just now: no heartbeat due
    state.sessions["revoked-session"] = (("user", 1e12), 1e12)
    return state


def test_a_none_with_a_message_behind_it_does_not_end_the_read():
    """get_message answers None for a health check's PONG or a maintenance notice even when a
    message waits behind it in redis-py's buffer: that message is applied before the request."""
    message = {"type": "message", "data": b"s:revoked-session"}
    state = _reading([None, message, None], unread=[40, 0])
    assert state.ready() is not None
    assert "revoked-session" not in state.sessions


def test_a_flood_not_read_to_its_end_is_not_trusted(monkeypatch):
    monkeypatch.setattr(auth_state, "DRAIN_MAX", 3)
    other = {"type": "message", "data": b"s:another-session"}
    state = _reading([other] * 5, unread=[])
    assert state.ready() is None  # decided from Redis; the rest is read by the next requests
