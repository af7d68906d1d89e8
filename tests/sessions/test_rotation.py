"""Refresh rotation, the grace window, reuse detection and session lifetimes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from iam.audit.models import AuditEvent
from iam.core.exceptions import SessionExpired, SessionRevoked, TokenInvalid, TokenReused
from iam.core.http import ClientInfo
from iam.sessions.models import DeviceSession
from iam.sessions.services import session_rotate, sessions_cleanup
from iam.tokens.tokens import RefreshToken

pytestmark = pytest.mark.django_db
CLIENT = ClientInfo(ip="203.0.113.7", user_agent="pytest")


def refresh(api, token):
    return api.post("/api/auth/refresh/", {"refresh": token}, format="json")


def test_every_refresh_rotates(api, tokens):
    first = refresh(api, tokens["refresh"])
    assert first.status_code == 200
    assert first.json()["refresh"] != tokens["refresh"]
    second = refresh(api, first.json()["refresh"])
    assert second.status_code == 200
    session = DeviceSession.objects.get()
    assert session.previous_refresh_jti
    assert session.refresh_jti != session.previous_refresh_jti
    assert AuditEvent.objects.filter(type="session:refresh:rotated").count() == 2


def test_refreshed_tokens_carry_the_same_claims(api, tokens):
    import jwt

    body = refresh(api, tokens["refresh"]).json()
    before = jwt.decode(tokens["access"], options={"verify_signature": False})
    after = jwt.decode(body["access"], options={"verify_signature": False})
    for claim in ("sub", "sid", "email", "email_verified", "amr", "auth_time"):
        assert after[claim] == before[claim], claim
    assert after["amr"] == ["pwd"]


def test_new_access_token_works_and_keeps_the_session(api, tokens):
    body = refresh(api, tokens["refresh"]).json()
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.status_code == 200
    assert DeviceSession.objects.count() == 1


def test_previous_token_within_grace_gets_access_only(api, tokens):
    assert refresh(api, tokens["refresh"]).status_code == 200
    again = refresh(api, tokens["refresh"])
    assert again.status_code == 200
    assert "access" in again.json()
    assert "refresh" not in again.json()
    assert DeviceSession.objects.get().revoked_at is None


def test_reuse_after_grace_revokes_the_whole_session(api, tokens):
    rotated = refresh(api, tokens["refresh"]).json()
    with time_machine.travel(time.time() + 6, tick=False):
        reused = refresh(api, tokens["refresh"])
        assert reused.status_code == 401
        assert reused.json()["code"] == "token_reused"
        # the thief's use killed the legitimate chain too
        legit = refresh(api, rotated["refresh"])
        assert legit.status_code == 401
        assert legit.json()["code"] == "session_revoked"
        # and the access tokens of that session are refused at once
        me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {rotated['access']}")
        assert me.status_code == 401
    session = DeviceSession.objects.get()
    assert session.revoke_reason == "refresh_reused"
    event = AuditEvent.objects.get(type="session:refresh:reuse_detected")
    assert event.session_id == session.id


def test_reuse_of_an_older_token_is_theft_even_within_grace(api, tokens):
    second = refresh(api, tokens["refresh"]).json()
    refresh(api, second["refresh"])
    reused = refresh(api, tokens["refresh"])  # two generations back
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_reused"


def test_refresh_idle_expiry(api, tokens):
    with time_machine.travel(time.time() + 7 * 24 * 3600 + 60, tick=False):
        response = refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_absolute_session_lifetime(api, tokens):
    token, start = tokens["refresh"], time.time()
    # keep the session busy: a refresh every 6 days never hits the idle limit...
    for day in range(6, 30, 6):
        with time_machine.travel(start + day * 24 * 3600, tick=False):
            response = refresh(api, token)
            assert response.status_code == 200, day
            token = response.json()["refresh"]
    # ...but the session ends 30 days after sign-in regardless.
    with time_machine.travel(start + 30 * 24 * 3600 + 1, tick=False):
        response = refresh(api, token)
    assert response.status_code == 401
    assert response.json()["code"] in {"session_expired", "token_not_valid"}


def test_refresh_token_exp_never_passes_the_session_end(tokens):
    from iam.tokens.tokens import RefreshToken

    session = DeviceSession.objects.get()
    assert RefreshToken(tokens["refresh"])["exp"] <= int(session.expires_at.timestamp())


def test_inactive_user_cannot_refresh(api, tokens, user):
    user.is_active = False
    user.save()
    response = refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert DeviceSession.objects.get().revoke_reason == "user_inactive"


def test_deleted_user_cannot_refresh(api, tokens, user):
    user.delete()
    assert refresh(api, tokens["refresh"]).status_code == 401


def test_service_errors_are_typed(tokens):
    with pytest.raises(TokenInvalid):
        session_rotate(raw_refresh="nonsense", client=CLIENT)
    session = DeviceSession.objects.get()
    session.revoked_at = timezone.now()
    session.save()
    with pytest.raises(SessionRevoked):
        session_rotate(raw_refresh=tokens["refresh"], client=CLIENT)
    session.revoked_at = None
    session.expires_at = timezone.now() - timedelta(seconds=1)
    session.save()
    with pytest.raises(SessionExpired):
        session_rotate(raw_refresh=tokens["refresh"], client=CLIENT)


def test_refresh_costs_three_statements(tokens):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        issued = session_rotate(raw_refresh=tokens["refresh"], client=CLIENT)
    statements = [
        q["sql"].split()[0]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    if connection.vendor == "postgresql":
        # compare-and-swap, audit row and the read of session + user: one statement, one commit
        assert statements == ["WITH"]
    else:
        # one read (session joined with user), the compare-and-swap, the audit row; one transaction
        assert statements == ["SELECT", "UPDATE", "INSERT"]
    event = AuditEvent.objects.get(type="session:refresh:rotated")
    session = DeviceSession.objects.get()
    assert (event.session_id, event.user_id, event.ip) == (session.id, session.user_id, CLIENT.ip)
    assert (session.ip, session.user_agent) == (CLIENT.ip, CLIENT.user_agent)
    # the stored jti is the new token's, and the one replaced is the old token's
    assert session.refresh_jti == RefreshToken(issued.refresh)["jti"]
    assert session.previous_refresh_jti == RefreshToken(tokens["refresh"])["jti"]
    assert session.refresh_jti != session.previous_refresh_jti
    assert session.rotated_at


def _tenant_session(api, user, login, role="admin"):
    from iam.tenancy.models import Membership, Role, Tenant

    acme = Tenant.objects.create(name="Acme", slug="acme")
    Membership.objects.create(tenant=acme, user=user, role=Role.objects.get(name=role))
    return acme, login(api, tenant="acme").json()


def test_tenant_refresh_reads_the_membership_in_the_same_statement(api, user, login):
    """The tenant claims of a refreshed access token ride on the rotation statement."""
    import jwt
    from django.test.utils import CaptureQueriesContext

    from iam.tenancy.models import Membership, Role

    acme, tokens = _tenant_session(api, user, login)
    Membership.objects.filter(user=user).update(role=Role.objects.get(name="viewer"))
    with CaptureQueriesContext(connection) as queries:
        issued = session_rotate(raw_refresh=tokens["refresh"], client=CLIENT)
    statements = [
        q["sql"].split()[0]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    if connection.vendor == "postgresql":
        assert statements == ["WITH"]
    claims = jwt.decode(issued.access, options={"verify_signature": False})
    assert (claims["tid"], claims["tenant"], claims["roles"]) == (str(acme.pk), "acme", ["viewer"])
    assert claims["perms"] == sorted(set(Role.objects.get(name="viewer").permissions))


def test_a_tenant_inactive_under_the_rotation_ends_the_session(api, user, login):
    """The tenant went inactive between its sessions' revocation and this refresh (a raw update,
    no signal): the statement's join finds no live membership, the general path ends it."""
    from iam.tenancy.models import Tenant

    acme, tokens = _tenant_session(api, user, login)
    Tenant.objects.filter(pk=acme.pk).update(is_active=False)
    response = refresh(api, tokens["refresh"])
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"
    assert DeviceSession.objects.get().revoke_reason == "membership_removed"


def test_cleanup_removes_only_ended_sessions(api, user, login):
    live = login(api).json()
    dead = login(api).json()
    refresh(api, dead["refresh"])
    with time_machine.travel(time.time() + 6, tick=False):
        refresh(api, dead["refresh"])  # reuse -> revoked
    assert sessions_cleanup() == 0  # retention not yet over
    with time_machine.travel(time.time() + 7 * 24 * 3600 + 60, tick=False):
        assert sessions_cleanup() == 1
    remaining = DeviceSession.objects.get()
    assert remaining.revoked_at is None
    assert live["user"]["id"] == str(remaining.user_id)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locking semantics need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_refresh_rotates_exactly_once_on_postgresql(api, user, login):
    from django.db import connections

    tokens = login(api).json()
    barrier = threading.Barrier(2)
    results: list[object] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(session_rotate(raw_refresh=tokens["refresh"], client=CLIENT))
        except TokenReused as exc:  # pragma: no cover - would be the bug
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    issued = [r for r in results if not isinstance(r, Exception)]
    assert len(issued) == 2, results  # nobody was treated as a thief
    assert sum(1 for r in issued if r.refresh is not None) == 1  # exactly one rotation
    assert AuditEvent.objects.filter(type="session:refresh:rotated").count() == 1
    assert DeviceSession.objects.get().revoked_at is None


def test_cleanup_command_is_safe_to_repeat(api, tokens, capsys):
    from django.core.management import call_command

    api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    with time_machine.travel(time.time() + 8 * 24 * 3600, tick=False):
        call_command("cleanup_sessions")
        call_command("cleanup_sessions")
    out = capsys.readouterr().out
    assert "deleted 1 ended session(s)" in out
    assert "deleted 0 ended session(s)" in out
    assert not DeviceSession.objects.exists()
