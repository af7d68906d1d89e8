"""The small limits of a request, and the lock states a login reads, in one round trip to the
rate-limit cache (``RateLimitCache.take_in_order``; ``FirstRefusalThrottling``).

Each behaviour is checked on both stores it runs on: Redis (a real ``redis-server`` of the
test's own, where a script does the work) and Django's local-memory cache (the embedded default,
and the per-process fallback while Redis is down), which must decide the same way.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis.connection

from iam.accounts.lockout import login_lockout_check, login_lockout_keys
from iam.core.conf import iam_settings
from iam.core.exceptions import Throttled
from iam.core.ratelimit import ReadAhead, WindowTake, ratelimit_cache, window_fits
from tests.authn.conftest import password_login
from tests.conftest import PASSWORD
from tests.redis_server import REDIS_SERVER, RedisServer

pytestmark = pytest.mark.django_db


def _caches_on(server: RedisServer | None) -> dict[str, Any]:
    if server is None:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"{server.url}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["redis", "locmem"])
def store(request: Any, settings: Any) -> Iterator[str]:
    """The rate-limit cache on a Redis of this module's own, or on local memory."""
    if request.param == "redis":
        if not REDIS_SERVER:
            pytest.skip("needs redis-server")
        server = request.getfixturevalue("own_redis")
        server.client().flushall()
        settings.CACHES = _caches_on(server)
    else:
        settings.CACHES = _caches_on(None)
    ratelimit_cache.reset()
    yield request.param
    ratelimit_cache.reset()


def _take(key: str, limit: int, weight: float = 0.0) -> WindowTake:
    return WindowTake(key=f"{key}:1", previous=f"{key}:0", ttl=121, limit=limit, weight=weight)


def _count(key: str) -> int | None:
    return ratelimit_cache.get_many([key]).get(key)


# --- the store ------------------------------------------------------------------------------


def test_takes_count_in_order_and_stop_at_the_first_refusal(store: str) -> None:
    ratelimit_cache.set("full:1", 1, 60)
    taken = ratelimit_cache.take_in_order(
        [_take("first", limit=5), _take("full", limit=1), _take("after", limit=5)],
        reads=["lock"],
    )
    assert taken.refused == 1
    assert taken.counts == [(1, 0), (2, 0)]
    assert taken.found == {}
    assert _count("first:1") == 1  # counted
    assert _count("full:1") == 1  # the refused request was handed back
    assert _count("after:1") is None  # never touched: no counter made for it


def test_when_every_take_fits_the_reads_come_back_decoded(store: str) -> None:
    ratelimit_cache.set("lock:until", 1234.5, 60)  # a float, as the lock states are stored
    ratelimit_cache.set("previous:0", 3, 60)
    taken = ratelimit_cache.take_in_order(
        [_take("previous", limit=10, weight=0.5)], reads=["lock:until", "no:lock"]
    )
    assert taken.refused is None
    assert taken.counts == [(1, 3)]
    assert taken.found == {"lock:until": 1234.5}  # a key holding nothing is missing


def test_the_previous_window_weighs_by_its_share(store: str) -> None:
    ratelimit_cache.set("slide:0", 10, 60)
    # 1 + 10 x 0.5 = 6 fits under 6; the second request (2 + 5 = 7) does not
    assert ratelimit_cache.take_in_order([_take("slide", 6, weight=0.5)]).refused is None
    taken = ratelimit_cache.take_in_order([_take("slide", 6, weight=0.5)])
    assert taken.refused == 0
    assert taken.counts == [(2, 10)]
    assert _count("slide:1") == 1


@pytest.mark.parametrize("store", ["redis"], indirect=True)
def test_counters_expire_on_redis(store: str, own_redis: RedisServer) -> None:
    ratelimit_cache.take_in_order([_take("ttl", limit=5)])
    ttl = own_redis.client().ttl(":1:ttl:1")
    assert 0 < ttl <= 121


def test_the_script_decides_exactly_as_window_fits(store: str) -> None:
    """Random cases, and the cases on the boundary (a weighted count exactly at the limit),
    where a different rounding would let one request too many through or refuse one too
    early."""
    chance = random.Random(17)
    for case in range(300):
        limit = chance.randint(1, 12)
        before = chance.randint(0, 20)
        already = chance.randint(0, limit + 1)
        position = already + 1
        if case % 3 == 0 and before:  # on the boundary
            weight = (limit - position) / before
            if not 0 <= weight <= 1:
                weight = chance.random()
        else:
            weight = chance.random()
        key = f"case{case}"
        if already:
            ratelimit_cache.set(f"{key}:1", already, 60)
        if before:
            ratelimit_cache.set(f"{key}:0", before, 60)
        taken = ratelimit_cache.take_in_order([_take(key, limit, weight)])
        fits = window_fits(position=position, before=before, weight=weight, limit=limit)
        assert (taken.refused is None) is fits, (limit, before, position, weight)
        assert taken.counts == [(position, before)]
        assert _count(f"{key}:1") == (position if fits else already)  # refused: handed back


def test_a_read_ahead_answers_only_for_the_keys_it_read(store: str) -> None:
    ratelimit_cache.set("a", 1, 60)
    ratelimit_cache.set("b", 2, 60)
    ahead = ReadAhead(keys=frozenset({"a"}), found={})
    assert ahead.get_many(["a"]) == {}  # as read then
    assert ahead.get_many(["a", "b"]) == {"a": 1, "b": 2}  # not all read ahead: asked again


def test_a_lock_is_seen_when_the_read_ahead_is_of_other_keys(store: str) -> None:
    keys = login_lockout_keys(account_key="user:7", ip="203.0.113.5")
    ratelimit_cache.set(keys[0], 10**12, 60)  # the account is locked
    other = ReadAhead(keys=frozenset(["iam:lockout:account:user:8:until"]), found={})
    with pytest.raises(Throttled):
        login_lockout_check(account_key="user:7", ip="203.0.113.5", read_ahead=other)


# --- over HTTP --------------------------------------------------------------------------------


def _rates(settings: Any, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def test_attempts_refused_per_ip_spend_nothing_of_the_accounts_allowance(
    api: Any, user: Any, keys: Any, settings: Any, store: str
) -> None:
    """First refusal: a guess refused by the per-IP limit does not count against the account
    it names (else a flood from one address would spend, and create, per-account counters)."""
    _rates(settings, login_ip="2/min", login_account="3/min", anon="100/hour")
    attacker = {"REMOTE_ADDR": "203.0.113.66"}
    assert password_login(api, email="bob@example.com", **attacker).status_code == 401
    assert password_login(api, email="bob@example.com", **attacker).status_code == 401
    for _ in range(4):  # refused by the per-IP limit
        assert password_login(api, **attacker).status_code == 429
    # alice's 3 attempts are all still there (from the owner's addresses, 2 per address)
    home, office, cafe = ({"REMOTE_ADDR": f"198.51.100.{n}"} for n in (7, 8, 9))
    assert password_login(api, **home).status_code == 401
    assert password_login(api, password=PASSWORD, **home).status_code == 200
    assert password_login(api, password=PASSWORD, **office).status_code == 200
    refused = password_login(api, password=PASSWORD, **cafe)  # the 4th: the account's limit
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"


def test_requests_refused_by_the_anonymous_limit_spend_no_login_attempt(
    api: Any, user: Any, keys: Any, settings: Any, store: str
) -> None:
    _rates(settings, anon="2/hour", login_ip="3/min", login_account="100/min")
    client = {"REMOTE_ADDR": "203.0.113.67"}
    assert password_login(api, **client).status_code == 401
    assert password_login(api, **client).status_code == 401
    assert password_login(api, **client).status_code == 429  # the anonymous limit
    _rates(settings, anon="100/hour", login_ip="3/min", login_account="100/min")
    assert password_login(api, password=PASSWORD, **client).status_code == 200  # the 3rd
    assert password_login(api, password=PASSWORD, **client).status_code == 429


def test_a_locked_account_is_refused_before_the_hash_with_the_read_ahead(
    api: Any, user: Any, keys: Any, settings: Any, store: str, monkeypatch: Any
) -> None:
    # small enough to be counted one by one: every limit in the script, the locks read with them
    _rates(settings, login_ip="100/min", login_account="100/min", anon="100/hour")
    client = {"REMOTE_ADDR": "203.0.113.68"}
    for _ in range(6):  # the 6th failure starts a delay
        assert password_login(api, **client).status_code == 401
    hashed: list[str] = []
    monkeypatch.setattr(type(user), "check_password", lambda self, raw: hashed.append(raw))

    def no_second_read(keys: Any) -> Any:
        raise AssertionError(f"the lock states were read again: {keys}")

    monkeypatch.setattr(ratelimit_cache, "get_many", no_second_read)
    response = password_login(api, password=PASSWORD, **client)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) >= 1
    assert hashed == []


class RedisRoundTrips:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = redis.connection.AbstractConnection.send_packed_command

        def counted(connection: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(connection, *args, **kwargs)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)


@pytest.mark.parametrize("store", ["redis"], indirect=True)
def test_a_login_takes_three_limits_and_reads_two_locks_in_one_redis_round_trip(
    api: Any, user: Any, keys: Any, settings: Any, store: str, monkeypatch: Any
) -> None:
    """Production's limits are small, so each is counted in Redis one request at a time:
    anonymous (100/hour), per IP and per account (5/min). They and the lock states of the
    account and the IP used to take four round trips."""
    _rates(settings, anon="100/hour", login_ip="5/min", login_account="5/min")
    password_login(api, password=PASSWORD)  # the script is loaded once per Redis
    trips = RedisRoundTrips(monkeypatch)
    response = password_login(api, password=PASSWORD, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 200, response.content
    assert trips.count == 1


@pytest.mark.parametrize("store", ["redis"], indirect=True)
def test_a_redis_that_refuses_scripts_still_counts_every_limit_shared(
    api: Any,
    user: Any,
    keys: Any,
    settings: Any,
    store: str,
    own_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An ACL without ``@scripting`` (some hardened or managed Redis set-ups): the limits are
    counted in Redis a call at a time, still shared between processes, still first refusal."""
    own_redis.client().execute_command("ACL", "SETUSER", "default", "-@scripting")
    try:
        _rates(settings, login_ip="2/min", login_account="100/min", anon="100/hour")
        client = {"REMOTE_ADDR": "203.0.113.70"}
        assert password_login(api, **client).status_code == 401
        assert password_login(api, **client).status_code == 401
        own_redis.client().config_resetstat()
        assert password_login(api, **client).status_code == 429
        assert own_redis.client().keys("*throttle_login_ip_*")  # in Redis, not in one process
        # counted by Redis's atomic INCRBY (django-redis's incr would need a script as well,
        # and without one falls back to a read and a write that parallel requests can race)
        stats = own_redis.client().info("commandstats")
        assert stats["cmdstat_incrby"]["calls"] >= 2
        assert ratelimit_cache.degraded_since() is None
        refused = [
            r for r in caplog.records if getattr(r, "event", "") == "ratelimit_script_refused"
        ]
        assert len(refused) == 1
    finally:
        own_redis.client().execute_command("ACL", "SETUSER", "default", "+@all")


@pytest.mark.parametrize("store", ["redis"], indirect=True)
def test_a_redis_that_lost_its_scripts_loads_the_script_again(
    store: str, own_redis: RedisServer
) -> None:
    """After a restart (or ``SCRIPT FLUSH``) Redis no longer knows the script's SHA1."""
    assert ratelimit_cache.take_in_order([_take("again", limit=5)]).refused is None
    own_redis.client().script_flush()
    assert ratelimit_cache.take_in_order([_take("again", limit=5)]).counts == [(2, 0)]
    assert ratelimit_cache.degraded_since() is None


@pytest.mark.parametrize("store", ["redis"], indirect=True)
def test_a_redis_that_refuses_writes_is_an_outage_not_a_lasting_switch(
    store: str, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Out of memory (or read-only after a failover): the limits fall back per process for
    a while, as in any outage, and the script is tried again later."""
    assert ratelimit_cache.take_in_order([_take("oom", limit=5)]).refused is None
    own_redis.client().config_set("maxmemory", "1")
    try:
        taken = ratelimit_cache.take_in_order([_take("oom", limit=5)])
        assert taken.counts == [(1, 0)]  # counted in this process's memory
        assert ratelimit_cache.degraded_since() is not None
    finally:
        own_redis.client().config_set("maxmemory", "0")
    events = [getattr(record, "event", "") for record in caplog.records]
    assert "ratelimit_script_refused" not in events
    ratelimit_cache.probe()  # back: the next take is the script's again
    assert ratelimit_cache.take_in_order([_take("oom", limit=5)]).counts == [(2, 0)]


def test_an_unreadable_body_still_counts_against_the_limits_before_the_account(
    api: Any, user: Any, keys: Any, settings: Any, store: str
) -> None:
    """The per-account limit reads the body; a body that cannot be read still spends the
    anonymous allowance (as it did when each limit was counted on its own)."""
    _rates(settings, anon="2/hour", login_ip="100/min", login_account="100/min")
    client = {"REMOTE_ADDR": "203.0.113.71"}
    for _ in range(2):
        broken = api.post(
            "/api/auth/login/", "{not json", content_type="application/json", **client
        )
        assert broken.status_code == 400
    assert password_login(api, password=PASSWORD, **client).status_code == 429


@pytest.mark.parametrize("store", ["redis"], indirect=True)
def test_a_wrong_password_counts_both_failure_runs_in_one_round_trip(
    api: Any,
    user: Any,
    keys: Any,
    settings: Any,
    store: str,
    own_redis: RedisServer,
    monkeypatch: Any,
) -> None:
    """The account's and the address's runs of failures (``iam.accounts.lockout``) used to
    take three round trips each (add, incr, touch)."""
    _rates(settings, anon="100/hour", login_ip="5/min", login_account="5/min")
    password_login(api, password=PASSWORD)  # the script is loaded once per Redis
    trips = RedisRoundTrips(monkeypatch)
    assert password_login(api, REMOTE_ADDR="198.51.100.10").status_code == 401
    assert trips.count == 2  # the limits and the lock states; the two failure runs
    # each run is forgotten IAM_LOCKOUT_WINDOW after its latest failure, not its first
    redis_client = own_redis.client()
    runs = (f":1:iam:lockout:account:user:{user.pk}:n", ":1:iam:lockout:ip:198.51.100.10:n")
    for key in runs:
        assert redis_client.get(key) == b"1"
        assert 0 < redis_client.ttl(key) <= iam_settings.lockout_window
        redis_client.expire(key, 60)  # as if the first failure were long ago
    assert password_login(api, REMOTE_ADDR="198.51.100.10").status_code == 401
    for key in runs:
        assert redis_client.get(key) == b"2"
        assert redis_client.ttl(key) > 60
    assert ratelimit_cache.get_many([runs[0][3:]]) == {runs[0][3:]: 2}  # an int to the code
