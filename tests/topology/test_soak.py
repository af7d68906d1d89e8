"""A soak: a mixed load on both IAM processes for ``SOAK_SECONDS`` (60 in ``make topology``,
600 in ``make soak``), then the books are balanced (issue 16).

The load: 6 clients signing in, rotating their refresh tokens and calling ``/me`` on the other
process; every access token also verified in-process by ``iam_client.Verifier`` against the
IAM's JWKS; client-credentials tokens fetched with ``iam_client.ClientCredentials``.
Afterwards: no 5xx and no dropped request; every rotation chain agrees with the database; the
audit rows match the requests; each worker's memory is flat; p50/p99 per operation are written
to ``var/topology/soak.json``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from iam_client import ClientCredentials, Verifier

from tests.topology.harness import ROOT, Topology
from tests.topology.load import Load, percentiles

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
CLIENTS = 6
# Resident memory a worker may gain over the second half of the run. Every worker, a respawned
# one too, has made the Argon2id hashes that make glibc keep 19 MiB for the next one before its
# first request (tests/topology/gunicorn_conf.py); the first half warms the bounded caches
# (key ring, verified tokens: IAM_TOKEN_CACHE_SIZE is 500 in the harness so that it fills early,
# local auth state). After it, a worker is flat: a leak of a hundred bytes per request would
# exceed the bound over the 10-minute soak.
RSS_GROWTH_BOUND_KIB = 4 * 1024


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def test_soak(topology: Topology):
    b = topology.iams[1]
    emails = [f"soak{i}@example.com" for i in range(CLIENTS)]
    topology.users(emails)
    issued = topology.manage("create_service_client", "soak-caller", "--audience", "orders-api")
    client_id, secret = (line.split("=", 1)[1] for line in issued.stdout.split())
    verifier = Verifier(topology.env["IAM_ISSUER"], "iam-api")  # A serves the JWKS
    source = ClientCredentials(
        f"{b.url}/api/oauth/token/", client_id, secret, audience="orders-api"
    )
    (var := ROOT / "var" / "topology").mkdir(parents=True, exist_ok=True)

    load = Load(
        topology.iams, emails, verifier=verifier, client_credentials=source, login_every=400
    )
    started = time.monotonic()
    samples: list[dict[str, dict[int, int]]] = []  # each worker's RSS, ten times over the run
    with load:
        for _ in range(10):
            time.sleep(SOAK_SECONDS / 10)
            samples.append({iam.name: iam.rss_kib() for iam in topology.iams})
    elapsed = time.monotonic() - started
    warm, end = samples[4], samples[-1]  # the first half warms up the caches

    # no 5xx, no request without an answer, nothing refused that should have passed
    failures = [(r.op, r.process, r.status, r.code) for r in load.records if r.status != 200]
    assert failures == []
    assert load.violations == []
    # every rotation chain agrees with the database: no token accepted twice, none lost
    assert all(chain.rotations_unknown == 0 for chain in load.chains)
    rows = topology.sql(
        "SELECT id::text, refresh_jti, previous_refresh_jti, revoked_at IS NOT NULL "
        "FROM iam_sessions_devicesession WHERE id::text = ANY(%s)",
        [sid for chain in load.chains for sid in chain.sessions],
    )
    assert load.consistent_with({row[0]: row[1:] for row in rows}) == []
    # the audit rows match the requests
    audited = dict(
        topology.sql(
            "SELECT e.type, count(*) FROM iam_audit_auditevent e "
            "JOIN iam_accounts_user u ON u.id = e.user_id "
            "WHERE u.email = ANY(%s) GROUP BY e.type",
            emails,
        )
    )
    logins = sum(1 for r in load.records if r.op == "login")
    rotations = sum(chain.rotations_seen for chain in load.chains)
    assert audited.get("user:login:succeeded") == logins
    assert audited.get("session:refresh:rotated") == rotations
    tokens = len(load.service_tokens)
    assert tokens > 0
    assert topology.sql(
        "SELECT count(*) FROM iam_audit_auditevent WHERE type = 'client:token:issued'"
    ) == [(tokens,)]
    # memory: each worker flat after the warm-up
    growth = {
        f"{name}:{pid}": end[name][pid] - warm[name][pid]
        for name in end
        for pid in end[name]
        if pid in warm[name]
    }
    assert len(growth) == 2 * len(topology.iams)  # the same workers all along
    assert max(growth.values()) <= RSS_GROWTH_BOUND_KIB, growth

    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs, {_cpu_model()}",
        "seconds": round(elapsed, 1),
        "clients": CLIENTS,
        "processes": len(topology.iams),
        "requests": len(load.records),
        "latency": percentiles(load.records),
        "rss_growth_kib": growth,
        "rss_kib": [
            {f"{n}:{p}": v for n, s in sample.items() for p, v in s.items()} for sample in samples
        ],
    }
    (var / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
