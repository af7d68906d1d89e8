"""Faults injected while a mixed load runs on both IAM processes (issue 16). Each test restores
what it broke; every property is asserted on what the clients saw and on the database."""

from __future__ import annotations

import os
import signal
import time

import jwt
import pytest

from tests.topology.harness import FAKETIME_LIB, PASSWORD, Topology
from tests.topology.load import Load

# A request never waits for longer than this, whatever is down (DATABASE_CONNECT_TIMEOUT is 3 s
# in the harness, and a connection refused fails at once).
FAIL_FAST_SECONDS = 8.0


def _emails(prefix: str, count: int = 4) -> list[str]:
    return [f"{prefix}{i}@example.com" for i in range(count)]


def _session_rows(topology: Topology, load: Load) -> dict[str, tuple[str, str, bool]]:
    sids = [sid for chain in load.chains for sid in chain.sessions]
    rows = topology.sql(
        "SELECT id::text, refresh_jti, previous_refresh_jti, revoked_at IS NOT NULL "
        "FROM iam_sessions_devicesession WHERE id::text = ANY(%s)",
        sids,
    )
    return {sid: (current, previous, revoked) for sid, current, previous, revoked in rows}


def _recovered(load: Load, after: float) -> None:
    """Requests that started a moment after recovery all succeed."""
    late = [r for r in load.records if r.started >= after]
    assert late, "no request after recovery"
    assert all(r.status == 200 for r in late), {(r.op, r.status, r.code) for r in late}


def _run_load(load: Load, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)


def test_postgresql_restarted_under_load(topology):
    emails = _emails("pgrestart")
    topology.users(emails)
    pids = [iam.popen.pid for iam in topology.iams]
    with Load(topology.iams, emails, pause=0.01) as load:
        _run_load(load, 2)
        start = time.monotonic()
        topology.pg.stop()  # a restart with a gap: requests meet a database that is not there
        time.sleep(2)
        topology.pg.start()
        end = time.monotonic()
        _run_load(load, 3)  # the first requests reconnect
        recovered_at = time.monotonic()
        _run_load(load, 2)
    during = load.between(start, end)
    failed = [r for r in during if r.status >= 500 or r.status == 0]
    assert failed, "no request met the outage"
    assert {(r.status, r.code) for r in failed} == {(503, "service_unavailable")}
    assert max(r.seconds for r in load.records) < FAIL_FAST_SECONDS
    assert not [r for r in load.outside([(start, end + 1)]) if r.status >= 500]
    _recovered(load, recovered_at)
    assert [iam.popen.pid for iam in topology.iams] == pids  # no process was restarted
    assert load.violations == []
    assert load.consistent_with(_session_rows(topology, load)) == []


def test_postgresql_out_of_connections(topology):
    emails = _emails("pgfull", 2)
    topology.users(emails)
    topology.sql("DO $$ BEGIN CREATE ROLE hog LOGIN; EXCEPTION WHEN duplicate_object THEN END $$")
    hogs = []
    with Load(topology.iams, emails, pause=0.02) as load:
        _run_load(load, 1)
        start = time.monotonic()
        # another client takes every connection the IAM's role may open, and the IAM's own
        # persistent connections are ended, so its next requests need new ones: until no IAM
        # connection is left and no new one can be opened (the IAM may grab a freed slot first)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                hogs.append(topology.pg.connect(user="hog"))
                continue
            except Exception:  # "remaining connection slots are reserved": full
                pass
            ended = topology.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = 'iam' AND backend_type = 'client backend'"
            )
            if not ended:
                break
        _run_load(load, 2)
        for hog in hogs:
            hog.close()
        end = time.monotonic()
        _run_load(load, 2)
        recovered_at = time.monotonic()
        _run_load(load, 1.5)
    during = load.between(start, end)
    failed = [r for r in during if r.status >= 500 or r.status == 0]
    assert failed, "no request met the exhaustion"
    assert {(r.status, r.code) for r in failed} == {(503, "service_unavailable")}
    assert max(r.seconds for r in load.records) < FAIL_FAST_SECONDS
    _recovered(load, recovered_at)
    assert load.violations == []
    assert load.consistent_with(_session_rows(topology, load)) == []


def test_redis_stopped_then_restarted(topology):
    a, b = topology.iams
    emails = _emails("redis", 2)
    topology.users([*emails, "redis-limit@example.com", "redis-logout@example.com"])
    with Load(topology.iams, emails, pause=0.02) as load:
        _run_load(load, 1)
        victim = a.tokens("redis-logout@example.com")
        start = time.monotonic()
        topology.redis.stop()
        _run_load(load, 1)
        # the documented degraded mode: revocation is saved and refused at once by both
        # processes (they read the database), and the caller is told it did not propagate
        logout = b.http.post("/api/auth/logout/", json={"refresh": victim["refresh"]})
        assert logout.status_code == 503, logout.text
        assert logout.json()["code"] == "revocation_not_propagated"
        for process in (a, b):
            assert process.me(victim["access"]).status_code == 401
            assert process.refresh(victim["refresh"]).status_code == 401
        # limits count per worker process: never wider than IAM_THROTTLE_LOGIN_ACCOUNT (30/min)
        # on each of A's two gunicorn workers, and still a limit
        statuses = [a.login("redis-limit@example.com").status_code for _ in range(70)]
        assert 30 <= statuses.count(200) <= 30 * len(a.workers())
        assert set(statuses) == {200, 429}
        topology.redis.start()
        end = time.monotonic()
        _run_load(load, 2)
        recovered_at = time.monotonic()
        _run_load(load, 1)
    # the load itself never noticed: sign-in, refresh and /me keep working without Redis
    assert [r for r in load.records if r.status != 200] == []
    assert end > start
    _recovered(load, recovered_at)
    for process in (a, b):  # and after it, the revocation still stands everywhere
        assert process.me(victim["access"]).status_code == 401
    assert load.violations == []
    assert load.consistent_with(_session_rows(topology, load)) == []


def test_smtp_down_for_a_while(topology):
    a, b = topology.iams
    before = len(topology.smtp.inbox.envelopes)
    topology.smtp.stop()
    addresses = [f"signup{i}@example.com" for i in range(6)]
    for i, address in enumerate(addresses):
        process = (a, b)[i % 2]
        response = process.http.post(
            "/api/auth/register/", json={"email": address, "password": PASSWORD + " x" + str(i)}
        )
        assert response.status_code == 201, response.text
    time.sleep(3)  # the worker tries, fails and backs off (IAM_MAIL_RETRY_DELAY is 1 s)
    assert len(topology.smtp.inbox.envelopes) == before
    topology.smtp.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        received = topology.smtp.recipients()
        if all(address in received for address in addresses):
            break
        time.sleep(0.2)
    time.sleep(2)  # a duplicate would arrive with the next retry
    received = topology.smtp.recipients()
    assert {address: received.count(address) for address in addresses} == dict.fromkeys(
        addresses, 1
    )  # every mail once: nothing lost, nothing twice


def test_a_worker_killed_mid_refresh(topology):
    a, b = topology.iams
    emails = _emails("killed", 6)
    topology.users(emails)
    import concurrent.futures

    # refreshes in flight on A's workers; one worker is killed while they run (a few rounds,
    # until the kill has cut a request off: a sync worker between requests loses nothing)
    for _round in range(10):
        chains = [a.tokens(email) for email in emails]
        worker = a.workers()[0]
        with concurrent.futures.ThreadPoolExecutor(len(chains)) as pool:
            futures = [pool.submit(a.refresh, chain["refresh"]) for chain in chains]
            time.sleep(0.005)
            os.kill(worker, signal.SIGKILL)
            answers = []
            for future in futures:
                try:
                    answers.append(future.result().status_code)
                except Exception:  # the killed worker's connection is reset
                    answers.append(0)
        a.wait()  # gunicorn has replaced the worker
        if 0 in answers:
            break
    assert 0 in answers, "no request was cut off"
    assert set(answers) <= {0, 200}
    # every client retries what it sent, on either process: the rotation happened (the grace
    # answer: an access token and no refresh token) or it did not (a normal rotation)
    for chain, status in zip(chains, answers, strict=True):
        retried = b.refresh(chain["refresh"])
        assert retried.status_code == 200, retried.text
        body = retried.json()
        if status == 200:
            assert "refresh" not in body  # it had rotated: the grace answer, never token_reused
        sid = jwt.decode(body["access"], options={"verify_signature": False})["sid"]
        assert topology.sql(
            "SELECT revoked_at IS NULL FROM iam_sessions_devicesession WHERE id = %s", sid
        ) == [(True,)]


@pytest.mark.skipif(FAKETIME_LIB is None, reason="needs libfaketime (apt-get install faketime)")
def test_clock_ahead_within_and_beyond_the_leeway(topology):
    a = topology.iams[0]
    topology.users(["clock@example.com"])
    lifetime = 15 * 60  # IAM_ACCESS_TOKEN_LIFETIME; IAM_TOKEN_LEEWAY_SECONDS is 10
    within = topology.start_iam("iam-clock-within", faketime=f"+{lifetime + 5}s")
    beyond = topology.start_iam("iam-clock-beyond", faketime=f"+{lifetime + 30}s")
    topology.extra += [within, beyond]
    try:
        access = a.tokens("clock@example.com")["access"]
        assert within.me(access).status_code == 200  # expired 5 s ago by its clock: leeway
        refused = beyond.me(access)
        assert refused.status_code == 401
        assert refused.json()["code"] == "token_not_valid"
    finally:
        for process in (within, beyond):
            process.stop()
            topology.extra.remove(process)
