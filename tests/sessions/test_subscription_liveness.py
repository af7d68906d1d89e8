"""``LocalAuthState``'s heartbeat: the local copy is trusted only while the subscription has
proven recently that it still delivers (a PING it sent answered on the same connection). A
connection that died without a word must not be trusted until the entries expire. Attacked here
with a fake subscription (no Redis needed); ``test_local_auth_state`` does it on a real one."""

from __future__ import annotations

import logging
import os
import socket
import time
from types import SimpleNamespace

import pytest

from iam.sessions import auth_state
from iam.sessions.auth_state import HEARTBEAT_SECONDS, LIVENESS_SECONDS


class Subscription:
    """A subscribed pubsub whose socket is quiet (``sock``) or unknown (None): ``get_message``
    gives what was ``delivered``, in order, then None; ``ping`` records what it sent;
    ``subscribe`` is confirmed."""

    def __init__(self, sock: object = None) -> None:
        parser = SimpleNamespace(_buffer=SimpleNamespace(unread_bytes=lambda: 0))
        self.connection = SimpleNamespace(
            _sock=sock,
            _parser=parser,
            health_check_interval=0,
            next_health_check=0.0,
            should_reconnect=lambda: False,
        )
        self.delivered: list[dict] = []
        self.reads = 0
        self.pings: list[str] = []
        self.closed = False

    def get_message(self, timeout: float) -> dict | None:
        self.reads += 1
        return self.delivered.pop(0) if self.delivered else None

    def ping(self, message: str) -> None:
        self.pings.append(message)

    def answer(self, data: bytes | None = None) -> None:
        """Redis answers a PING: the last one sent, or one that says ``data``."""
        data = self.pings[-1].encode() if data is None else data
        self.delivered.append({"type": "pong", "pattern": None, "channel": None, "data": data})

    def subscribe(self, channel: str) -> None:
        self.delivered.append({"type": "subscribe", "channel": channel.encode(), "data": 1})

    def close(self) -> None:
        self.closed = True


def subscribed(sock: object = None) -> tuple[auth_state.LocalAuthState, Subscription]:
    state = auth_state.LocalAuthState()
    state._pid = os.getpid()
    state._pubsub = subscription = Subscription(sock)
    state._proven(time.monotonic())
    state.sessions["s"] = (("u", 1e12), 1e12)
    return state, subscription


def aged(state: auth_state.LocalAuthState, seconds: float) -> None:
    """As if ``seconds`` had passed since the last proof (and since the PING, if one is out)."""
    state._proven_at -= seconds
    state._heartbeat_at -= seconds
    if state._ping_at is not None:
        state._ping_at -= seconds


@pytest.fixture
def quiet_socket():
    ours, theirs = socket.socketpair()
    yield ours
    ours.close()
    theirs.close()


def test_a_fresh_proof_costs_nothing(quiet_socket):
    state, subscription = subscribed(quiet_socket)
    assert state.ready() is not None
    assert subscription.pings == []
    assert subscription.reads == 0


def test_a_due_heartbeat_is_sent_even_when_the_socket_is_quiet(quiet_socket):
    state, subscription = subscribed(quiet_socket)
    aged(state, HEARTBEAT_SECONDS + 0.1)
    assert state.ready() is not None  # still within the liveness: trusted
    assert len(subscription.pings) == 1
    assert state.ready() is not None
    assert len(subscription.pings) == 1  # one PING out at a time


def test_the_answer_proves_what_was_published_before_the_ping():
    state, subscription = subscribed()
    aged(state, HEARTBEAT_SECONDS + 0.1)
    state.ready()
    sent = state._ping_at
    aged(state, 0.5)  # the answer is read half a second after the PING was sent
    subscription.answer()
    assert state.ready() is not None
    assert state._ping_at is None
    assert state._proven_at == sent - 0.5  # when the PING went out, not when its answer was read


def test_after_a_quiet_spell_requests_go_to_redis_until_the_answer_is_read():
    """A worker that served nothing for a minute has no proof the connection still delivers."""
    state, subscription = subscribed()
    aged(state, 60)
    assert state.ready() is None  # decided from Redis
    assert len(subscription.pings) == 1
    assert state.sessions  # not dropped: the answer will vouch for it
    subscription.answer()
    assert state.ready() is not None


def test_an_answer_read_long_after_its_ping_vouches_only_for_then():
    state, subscription = subscribed()
    aged(state, HEARTBEAT_SECONDS + 0.1)
    state.ready()  # PING sent
    subscription.answer()
    aged(state, 60)  # the worker then sits idle; its next request reads the old answer
    assert state.ready() is None
    assert len(subscription.pings) == 2  # and asks again


def test_a_silent_subscription_is_dropped(caplog):
    state, subscription = subscribed()
    aged(state, HEARTBEAT_SECONDS + 0.1)
    state.ready()
    generation = state.generation
    aged(state, LIVENESS_SECONDS)  # no answer since
    with caplog.at_level(logging.WARNING, logger="iam.auth_state"):
        assert state.ready() is None
    assert subscription.closed
    assert state._pubsub is None
    assert state.sessions == {}
    assert state.generation > generation
    assert "silent" in caplog.text


def test_a_pong_that_is_not_an_answer_to_its_ping_proves_nothing():
    state, subscription = subscribed()
    aged(state, 60)
    state.ready()
    subscription.answer(b"redis-py-health-check")
    subscription.answer(b"somebody else")
    subscription.answer(subscription.pings[-1].encode() + b"0")
    assert state.ready() is None
    assert state._ping_at is not None


def test_an_answer_to_an_earlier_ping_proves_nothing():
    """redis-py replaced the connection (a maintenance notice) while a PING was out; the old
    PING's answer, read after the next PING went out, must not vouch for the new one."""
    state, subscription = subscribed()
    aged(state, 60)
    state.ready()  # PING 1
    subscription.delivered.append({"type": "subscribe", "channel": b"c", "data": 1})
    state.ready()  # re-subscribed: proven afresh, PING 1 forgotten
    aged(state, 60)
    state.ready()  # PING 2
    subscription.answer(subscription.pings[0].encode())  # PING 1's answer, late
    assert state.ready() is None
    subscription.answer()
    assert state.ready() is not None


def test_an_answer_with_no_ping_out_is_ignored():
    state, subscription = subscribed()
    subscription.answer(b"iam-auth-state:1")
    assert state.ready() is not None
    assert state._pubsub is subscription  # not mistaken for a broken connection


def test_a_new_subscription_after_a_silent_one_is_trusted_again(monkeypatch):
    new = Subscription()
    client = SimpleNamespace(
        pubsub=lambda: new, connection_pool=SimpleNamespace(connection_kwargs={"db": 0})
    )
    monkeypatch.setattr(auth_state, "_redis_client", lambda: client)
    state, _ = subscribed()
    aged(state, HEARTBEAT_SECONDS + 0.1)
    state.ready()
    aged(state, LIVENESS_SECONDS)
    assert state.ready() is None  # silent: dropped
    state._retry_at = 0.0  # the retry is due
    assert state.ready() is not None
    assert state._pubsub is new
    assert new.pings == []  # the new subscription's confirmation is its proof


def test_a_ping_that_cannot_be_sent_drops_the_subscription():
    state, subscription = subscribed()

    def broken(message: str) -> None:
        raise ConnectionError("gone")

    subscription.ping = broken
    aged(state, HEARTBEAT_SECONDS + 0.1)
    assert state.ready() is None
    assert state._pubsub is None
    assert state.sessions == {}


def test_a_subscription_redis_py_reestablished_is_proven_afresh():
    state, subscription = subscribed()
    aged(state, 60)
    state.ready()  # PING out on the old connection: its answer will never come
    subscription.delivered.append({"type": "subscribe", "channel": b"c", "data": 1})
    assert state.ready() is not None
    assert state.sessions == {}
    assert state._ping_at is None
