"""Two IAM processes on one PostgreSQL and one Redis behave as one service (issue 16)."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.topology.harness import PASSWORD, Topology


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_a_session_signed_in_on_a_refreshes_on_b(topology: Topology):
    a, b = topology.iams
    topology.users(["cross1@example.com"])
    tokens = a.tokens("cross1@example.com")
    refreshed = b.refresh(tokens["refresh"])
    assert refreshed.status_code == 200, refreshed.text
    assert a.me(refreshed.json()["access"]).status_code == 200
    assert b.me(tokens["access"]).status_code == 200  # the first access token is still good


@pytest.mark.parametrize("reuse_on", [0, 1])
def test_reuse_detected_on_one_process_revokes_the_session_on_both_at_once(topology, reuse_on):
    a, b = topology.iams
    email = f"reuse{reuse_on}@example.com"
    topology.users([email])
    first = a.tokens(email)
    second = a.refresh(first["refresh"]).json()
    for process in (a, b):  # both have the session's state cached (Redis and local copy)
        assert process.me(second["access"]).status_code == 200
    time.sleep(6)  # past IAM_REFRESH_GRACE_SECONDS (5): a second use is a theft alarm
    thief = topology.iams[reuse_on]
    reused = thief.refresh(first["refresh"])
    assert reused.status_code == 401, reused.text
    for process in (a, b):
        assert process.me(second["access"]).status_code == 401  # access tokens: refused at once
        assert process.refresh(second["refresh"]).status_code == 401  # and the live chain
    revoked = topology.sql(
        "SELECT revoked_at IS NOT NULL FROM iam_sessions_devicesession "
        "WHERE id = %s", _claims(second["access"])["sid"]
    )  # fmt: skip
    assert revoked == [(True,)]


def test_sign_in_delays_count_across_processes(topology):
    a, b = topology.iams
    email = "delays@example.com"
    topology.users([email])
    # IAM_LOCKOUT_FREE_ATTEMPTS is 5, the sixth failure locks: three wrong passwords on each
    # process lock the account only if the processes count together
    for process in (a, a, a, b, b, b):
        assert process.login(email, "wrong password").status_code == 401
    for process in (a, b):
        delayed = process.login(email)  # even the right password waits now, on both
        assert delayed.status_code == 429, delayed.text
        assert delayed.json()["code"] == "throttled"
        assert int(delayed.headers["Retry-After"]) > 0


def test_rate_limits_are_shared(topology):
    a, b = topology.iams
    email = "limits@example.com"
    topology.users([email])
    # IAM_THROTTLE_LOGIN_ACCOUNT is 30/min in the harness: 15 sign-ins on each process use it up
    statuses = [p.login(email).status_code for _ in range(15) for p in (a, b)]
    assert statuses == [200] * 30
    for process in (a, b):
        refused = process.login(email)
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "throttled"


def test_a_key_rotated_through_a_signs_on_b_and_both_jwks_converge(topology):
    a, b = topology.iams
    email = "rotation@example.com"
    topology.users([email])
    before = _kid(b.tokens(email)["access"])
    # the next key was published at start-up; it may sign once every verifier can have fetched
    # it: IAM_JWKS_MAX_AGE + IAM_KEY_CACHE_SECONDS = 4 s in the harness
    time.sleep(4.5)
    out = topology.manage("rotate_signing_keys").stdout  # the admin command, with A's settings
    active = [  # both families rotate; the RS256 one signs access tokens (hs256-… are secrets)
        line.split()[1]
        for line in out.splitlines()
        if line.startswith("active") and not line.split()[1].startswith("hs256-")
    ]
    assert len(active) == 1, out
    assert active[0] != before
    deadline = time.monotonic() + 2 + 3  # IAM_KEY_CACHE_SECONDS, and a margin
    kid = before
    while kid != active[0] and time.monotonic() < deadline:
        time.sleep(0.5)  # (sign-ins are limited to 30/min per account)
        kid = _kid(b.tokens(email)["access"])
    assert kid == active[0]
    jwks = [
        sorted(k["kid"] for k in p.http.get("/.well-known/jwks.json").json()["keys"])
        for p in (a, b)
    ]
    assert jwks[0] == jwks[1]
    assert active[0] in jwks[0]
    assert before in jwks[0]  # the retired key verifies until its tokens expire


def test_a_member_removed_on_a_is_refused_on_b(topology):
    a, b = topology.iams
    topology.users(["owner@example.com", "member@example.com"])
    topology.shell(
        "from iam.accounts.models import User\n"
        "from iam.tenancy.models import Membership, Role\n"
        "from iam.tenancy.services import tenant_create\n"
        "owner = User.objects.get(email='owner@example.com')\n"
        "tenant = tenant_create(name='Acme', slug='acme', owner=owner)\n"
        "member = User.objects.get(email='member@example.com')\n"
        "role = Role.objects.get(name='member')\n"
        "Membership.objects.create(tenant=tenant, user=member, role=role)\n"
    )
    owner = a.tokens("owner@example.com", tenant="acme")
    member = b.tokens("member@example.com", tenant="acme")
    assert b.me(member["access"]).json()["tenant"]["slug"] == "acme"
    member_id = _claims(member["access"])["sub"]
    removed = a.http.delete(
        f"/api/tenant/members/{member_id}/",
        headers={"Authorization": f"Bearer {owner['access']}"},
    )
    assert removed.status_code == 204, removed.text
    assert b.me(member["access"]).status_code == 401  # at once, on the other process
    assert b.refresh(member["refresh"]).status_code == 401
    refused = b.login("member@example.com", PASSWORD, tenant="acme")
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_a_member"
