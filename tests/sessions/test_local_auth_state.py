"""The per-process layer over Redis: no round trip for a known session, and still immediate
revocation through the invalidation channel. Needs a real Redis (the PostgreSQL + Redis run)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core.cache import cache

from iam.sessions import auth_state
from iam.sessions.auth_state import local_state
from iam.sessions.models import DeviceSession
from tests.conftest import me

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


def test_revocation_elsewhere_reaches_this_process_before_the_next_request(api, tokens):
    me(api, tokens["access"])
    me(api, tokens["access"])
    sid = DeviceSession.objects.get().pk
    assert str(sid) in local_state.sessions
    client = auth_state._redis_client()
    probe = client.pubsub()
    probe.subscribe(auth_state._channel(client))
    try:
        assert probe.get_message(timeout=5)["type"] == "subscribe"
        # another process revokes: tombstone in Redis, message on the channel
        cache.set(auth_state._session_key(str(sid)), auth_state.REVOKED, auth_state.TTL)
        client.publish(auth_state._channel(client), f"s:{sid}")
        _delivered(probe, f"s:{sid}")
    finally:
        probe.close()
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
