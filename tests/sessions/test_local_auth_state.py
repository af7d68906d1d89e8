"""The per-process layer over Redis: no round trip for a known session, and still immediate
revocation through the invalidation channel. Needs a real Redis (the PostgreSQL + Redis run)."""

from __future__ import annotations

import logging
import select
import time

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from redis._parsers import _HiredisParser, _RESP2Parser, _RESP3Parser

from iam.sessions import auth_state
from iam.sessions.auth_state import local_state
from iam.sessions.models import DeviceSession
from tests.conftest import me
from tests.sessions.test_subscription_liveness import aged
from tests.tcp_proxy import SilentProxy

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)"),
]


@pytest.fixture
def cache_round_trips(monkeypatch):
    calls = []
    real = cache.get_many
    monkeypatch.setattr(cache, "get_many", lambda keys: calls.append(keys) or real(keys))
    return calls


def test_known_session_costs_no_round_trip(
    api, tokens, cache_round_trips, django_assert_num_queries
):
    me(api, tokens["access"])  # database, then Redis fill
    me(api, tokens["access"])  # Redis, then local fill
    cache_round_trips.clear()
    with django_assert_num_queries(0):
        assert me(api, tokens["access"]).status_code == 200
    assert cache_round_trips == []


def _delivered(probe, message: str) -> None:
    """Wait (at most 5 s) until Redis has delivered ``message`` to the subscribers: ``probe``
    is one of them. Redis writes a message to every subscriber in the same pass, so this
    process's own subscription has it too. (Delivery is asynchronous: a request that starts
    within microseconds of the publish, as in a test on a loaded CI machine, may not see it
    yet; the product publishes before the revoking transaction commits.)"""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = probe.get_message(timeout=0.5)
        if got and got["type"] == "message" and got["data"] in (message, message.encode()):
            return
    raise AssertionError(f"{message} was not delivered")


def _revoked_elsewhere(sid: object) -> None:
    """Another process revokes the session: tombstone in Redis, message on the channel, and
    the message delivered to this process's subscription (a probe subscriber has it)."""
    client = auth_state._redis_client()
    probe = client.pubsub()
    probe.subscribe(auth_state._channel(client))
    try:
        assert probe.get_message(timeout=5)["type"] == "subscribe"
        cache.set(auth_state._session_key(str(sid)), auth_state.REVOKED, auth_state.TTL)
        client.publish(auth_state._channel(client), f"s:{sid}")
        _delivered(probe, f"s:{sid}")
    finally:
        probe.close()


def test_revocation_elsewhere_reaches_this_process_before_the_next_request(api, tokens):
    me(api, tokens["access"])
    me(api, tokens["access"])
    sid = DeviceSession.objects.get().pk
    assert str(sid) in local_state.sessions
    _revoked_elsewhere(sid)
    assert str(sid) in local_state.sessions  # not applied yet: the next request drains it
    assert me(api, tokens["access"]).status_code == 401
    assert str(sid) not in local_state.sessions


def test_logout_is_refused_at_once(api, tokens):
    me(api, tokens["access"])
    me(api, tokens["access"])
    api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert me(api, tokens["access"]).status_code == 401


def test_user_change_is_seen_at_once(api, tokens, user):
    me(api, tokens["access"])
    me(api, tokens["access"])
    user.is_active = False
    user.save()
    assert me(api, tokens["access"]).status_code == 401


def test_a_broken_subscription_drops_the_local_copy(api, tokens, monkeypatch):
    me(api, tokens["access"])
    me(api, tokens["access"])
    assert local_state.sessions

    def broken(**kwargs):
        raise ConnectionError("gone")

    monkeypatch.setattr(local_state._pubsub, "get_message", broken)
    client = auth_state._redis_client()
    client.publish(auth_state._channel(client), "u:someone")  # something to read
    deadline = time.monotonic() + 5
    while local_state._idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert me(api, tokens["access"]).status_code == 200  # served from Redis instead
    assert local_state.sessions == {}


def test_a_forked_worker_does_not_trust_its_parent_copy(api, tokens):
    me(api, tokens["access"])
    me(api, tokens["access"])
    parent_pubsub = local_state._pubsub
    local_state._pid = -1  # what a worker forked after the parent subscribed would see
    assert local_state.ready()  # resubscribed on its own connection
    assert local_state.sessions == {}
    assert local_state._pubsub is not parent_pubsub


def _subscriber_killed() -> None:
    """Close this process's subscription from the server side, as a Redis restart or a
    proxy dropping idle connections would."""
    client = auth_state._redis_client()
    host, port = local_state._pubsub.connection._sock.getsockname()[:2]
    ours = [c for c in client.client_list(_type="pubsub") if c["addr"] == f"{host}:{port}"]
    assert len(ours) == 1
    client.client_kill_filter(_id=ours[0]["id"])


def test_a_subscription_closed_by_the_server_is_not_trusted(api, tokens, cache_round_trips):
    me(api, tokens["access"])
    me(api, tokens["access"])
    assert local_state.sessions
    generation = local_state.generation
    _subscriber_killed()
    cache_round_trips.clear()
    assert me(api, tokens["access"]).status_code == 200  # decided from Redis, not the copy
    assert cache_round_trips
    assert local_state.generation > generation  # the copy was dropped


def test_a_revocation_already_read_off_the_socket_is_still_applied(api, tokens, proxy):
    """Attack on the idle check: redis-py has read the message from the socket into its own
    buffer without parsing it. The socket is quiet; the request must still see the message.
    With each parser (``proxy``'s parameters), each of which buffers in its own way."""
    me(api, tokens["access"])
    me(api, tokens["access"])
    sid = DeviceSession.objects.get().pk
    _revoked_elsewhere(sid)
    connection = local_state._pubsub.connection
    parser = connection._parser
    if isinstance(parser, _HiredisParser):
        assert parser.read_from_socket(timeout=5)  # fed to hiredis's reader, not parsed
        assert parser._reader.has_data()
    else:
        assert select.select([connection._sock], [], [], 5)[0]
        assert parser.can_read(0)  # reads what the socket has into redis-py's buffer
        assert parser._buffer.unread_bytes()
    assert not select.select([connection._sock], [], [], 0)[0]  # nothing left on the socket
    assert me(api, tokens["access"]).status_code == 401


def test_a_quiet_subscription_is_not_read_through_redis_py(api, tokens):
    me(api, tokens["access"])
    me(api, tokens["access"])
    pubsub = local_state._pubsub
    calls = []
    real = pubsub.get_message
    pubsub.get_message = lambda **kw: calls.append(kw) or real(**kw)
    try:
        assert me(api, tokens["access"]).status_code == 200
        assert calls == []
        connection = pubsub.connection
        # a health check that is due is left to redis-py, which sends it
        connection.health_check_interval, connection.next_health_check = 30, 0
        assert me(api, tokens["access"]).status_code == 200
        assert calls
    finally:
        del pubsub.get_message
        connection.health_check_interval = 0


def _answer_arrived() -> None:
    sock = local_state._pubsub.connection._sock
    assert select.select([sock], [], [], 5)[0], "no answer to the PING"


def test_a_live_subscription_proves_itself_without_a_round_trip(api, tokens, cache_round_trips):
    me(api, tokens["access"])
    me(api, tokens["access"])
    aged(local_state, auth_state.HEARTBEAT_SECONDS + 0.1)
    cache_round_trips.clear()
    assert me(api, tokens["access"]).status_code == 200  # PING sent, copy still trusted
    sent = local_state._ping_at
    assert sent is not None
    assert cache_round_trips == []
    _answer_arrived()
    assert me(api, tokens["access"]).status_code == 200
    assert local_state._ping_at is None
    assert local_state._proven_at == sent
    assert cache_round_trips == []


def test_after_a_quiet_spell_the_first_request_asks_redis(api, tokens, cache_round_trips):
    me(api, tokens["access"])
    me(api, tokens["access"])
    aged(local_state, 60)
    cache_round_trips.clear()
    assert me(api, tokens["access"]).status_code == 200
    assert cache_round_trips  # no proof the copy is current: decided from Redis
    _answer_arrived()
    cache_round_trips.clear()
    assert me(api, tokens["access"]).status_code == 200
    assert cache_round_trips == []  # proven again: the copy serves


# (extra connection settings, the protocol and the parser they must give). The first is the
# configured client's own: it must parse with hiredis (the redis[hiredis] dependency). redis-py 8
# speaks RESP3 unless told otherwise, and quietly swaps a RESP2 parser for its RESP3 one on RESP3;
# its maintenance notices (on by default) exist on RESP3 only.
RESP2 = {"protocol": 2, "maint_notifications_config": None}
SUBSCRIPTION_WIRES = {
    "settings-resp3-hiredis": ({}, 3, _HiredisParser),
    "resp2-hiredis": (RESP2, 2, _HiredisParser),
    "resp2-python": ({**RESP2, "parser_class": _RESP2Parser}, 2, _RESP2Parser),
    "resp3-python": ({"protocol": 3, "parser_class": _RESP3Parser}, 3, _RESP3Parser),
}


@pytest.fixture(params=list(SUBSCRIPTION_WIRES.values()), ids=list(SUBSCRIPTION_WIRES))
def proxy(request, monkeypatch):
    """This process's subscription runs through a relay the test can cut silently; everything
    else (the shared cache, other processes' publishes) reaches Redis directly. As configured
    (RESP3, hiredis), and with each parser on each protocol: they read PING answers and the
    subscription's buffer differently."""
    extra, protocol, parser_class = request.param
    direct = auth_state._redis_client()
    pool = direct.connection_pool
    upstream = (pool.connection_kwargs.get("host", "127.0.0.1"), pool.connection_kwargs["port"])
    relay = SilentProxy(upstream)
    relayed = redis.Redis(
        connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class,
            **{
                **pool.connection_kwargs,
                "host": "127.0.0.1",
                "port": relay.port,
                **extra,
            },
        )
    )
    local_state.drop()
    with monkeypatch.context() as patched:
        patched.setattr(auth_state, "_redis_client", lambda: relayed)
        assert local_state.ready() is not None  # subscribed through the relay
    connection = local_state._pubsub.connection
    assert (connection.protocol, type(connection._parser)) == (protocol, parser_class)
    yield relay
    local_state.drop()
    relay.close()
    relayed.close()


def test_a_revocation_lost_in_a_partition_is_refused_within_the_liveness(
    api, tokens, proxy, caplog
):
    """Attack: the subscription's connection goes silent (a partition; nothing is closed).
    Another process revokes the session and publishes it; the message waits in the network
    with this process's PINGs. Without the heartbeat the copy would serve the revoked session
    until its entry expired (TTL, a minute)."""
    me(api, tokens["access"])
    me(api, tokens["access"])
    sid = DeviceSession.objects.get().pk
    assert str(sid) in local_state.sessions
    subscription = local_state._pubsub
    proxy.cut()
    _revoked_elsewhere(sid)  # published, and delivered to a subscriber the partition spares
    assert me(api, tokens["access"]).status_code == 200  # the bound: the copy cannot know yet
    aged(local_state, auth_state.HEARTBEAT_SECONDS + 0.1)
    assert me(api, tokens["access"]).status_code == 200
    assert local_state._ping_at is not None  # a PING went out, into the partition
    local_state._proven_at -= auth_state.LIVENESS_SECONDS  # no proof for that long
    assert me(api, tokens["access"]).status_code == 401  # decided from Redis
    assert local_state._pubsub is subscription  # its PING is not overdue yet
    local_state._ping_at -= auth_state.LIVENESS_SECONDS + 0.1
    with caplog.at_level(logging.WARNING, logger="iam.auth_state"):
        assert me(api, tokens["access"]).status_code == 401
    assert local_state._pubsub is None  # silent too long: dropped
    assert "silent" in caplog.text
    proxy.heal()
    local_state._retry_at = 0.0  # the retry is due
    assert local_state.ready() is not None  # subscribed again, and trusted
