"""Every statement of the hot paths can be served by an index (issue 16).

The statements are captured as the API runs them (sign-in, refresh, ``/me``, the session list,
ending a session, logout, the JWKS, a client-credentials token, the daily cleanups), then each
is planned by PostgreSQL with sequential scans priced out (``enable_seqscan = off``): the
planner still picks a sequential scan where no index can serve the statement's conditions, so
a ``Seq Scan`` on a table that grows with the user base is a statement whose cost grows with it.
``bench/costcurve.py`` measures the same at 1 M users and millions of sessions and audit rows.

PostgreSQL only (the suite's PostgreSQL run in CI); SQLite plans differently.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from iam.oauth.services import service_client_create
from tests.conftest import PASSWORD, bearer

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

# Tables that grow with users, sessions, events or clients. Small configuration tables (signing
# keys, roles, content types) may be scanned: a handful of rows, read whole.
GROWING = {
    "iam_accounts_user",
    "iam_sessions_devicesession",
    "iam_audit_auditevent",
    "iam_tenancy_membership",
    "iam_tenancy_tenant",
    "iam_tenancy_invitation",
    "iam_mfa_totpdevice",
    "iam_mfa_backupcode",
    "iam_mfa_mfachallenge",
    "iam_oauth_serviceclient",
    "iam_social_socialidentity",
    "django_tasks_db_dbtaskresult",
}


INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}


def _leading_columns() -> dict[str, str]:
    """Each index's first column: a condition on a later column only walks the whole index."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, a.attname FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        )
        return {name.strip('"'): column for name, column in cursor.fetchall()}


def _scanned(plan: dict[str, Any], leading: dict[str, str]) -> list[str]:
    """Whole-table reads of growing tables: a sequential scan, or an index scan whose condition
    does not bound the index's first column (it walks the whole index, as costly as the table:
    no condition at all, or one on a later column of a composite index)."""
    found = []
    node, relation = plan.get("Node Type"), plan.get("Relation Name")
    if node == "Seq Scan" and relation in GROWING:
        found.append(relation)
    elif node in INDEX_SCANS:
        index = plan.get("Index Name", "")
        condition = plan.get("Index Cond", "")
        first = leading.get(index)
        if not condition or (first and not re.search(rf"\b{re.escape(first)}\b", condition)):
            found.append(f"whole index {index}")
    for child in plan.get("Plans", []):
        found.extend(_scanned(child, leading))
    return found


def _statements(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH", "INSERT"))
    ]


def _plans_scanning(statements: list[str]) -> dict[str, list[str]]:
    problems = {}
    leading = _leading_columns()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in statements:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            scanned = _scanned(plan[0]["Plan"], leading)
            if scanned:
                problems[sql[:300]] = scanned
    return problems


def test_the_hot_paths_use_indexes(api, user, keys):
    client, secret = service_client_create(
        name="orders", audiences=["orders-api"], scopes=[], tenant=None, can_introspect=False
    )
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    with CaptureQueriesContext(connection) as captured:
        signed_in = api.post(
            "/api/auth/login/",
            {"email": user.email, "password": PASSWORD, "transport": "body"},
            format="json",
        )
        assert signed_in.status_code == 200
        tokens = signed_in.json()
        other = api.post(
            "/api/auth/login/",
            {"email": user.email, "password": PASSWORD, "transport": "body"},
            format="json",
        ).json()
        refreshed = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
        assert refreshed.status_code == 200
        access = refreshed.json()["access"]
        assert api.get("/api/auth/me/", **bearer(access)).status_code == 200
        listed = api.get("/api/auth/sessions/", **bearer(access))
        assert listed.status_code == 200
        other_sid = next(s["id"] for s in listed.json() if not s["current"])
        ended = api.delete(f"/api/auth/sessions/{other_sid}/", **bearer(access))
        assert ended.status_code == 204
        assert api.get("/.well-known/jwks.json").status_code == 200
        token = api.post(
            "/api/oauth/token/",
            "grant_type=client_credentials&audience=orders-api",
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Basic {basic}",
        )
        assert token.status_code == 200, token.content
        logout = api.post(
            "/api/auth/logout/", {"refresh": refreshed.json()["refresh"]}, format="json"
        )
        assert logout.status_code == 204
        assert other["refresh"]
        call_command("cleanup_sessions", verbosity=0)
        call_command("cleanup_audit", verbosity=0)
    statements = _statements(captured)
    assert len(statements) >= 15
    assert _plans_scanning(statements) == {}


def test_the_check_notices_a_statement_no_index_serves(user):
    # what the test above would report: a condition on an unindexed column of the users
    sql = "SELECT id FROM iam_accounts_user WHERE name = 'x'"
    assert _plans_scanning([sql]) == {sql: ["iam_accounts_user"]}


def test_the_check_notices_a_condition_on_a_later_column_of_an_index():
    # an index on (user_id, revoked_at) asked about revoked_at alone: the whole index is walked
    plan = {
        "Node Type": "Bitmap Index Scan",
        "Index Name": "session_user_live",
        "Index Cond": "(revoked_at < now())",
    }
    assert _scanned(plan, {"session_user_live": "user_id"}) == ["whole index session_user_live"]
    bounded = {**plan, "Index Cond": "((user_id = '1') AND (revoked_at < now()))"}
    assert _scanned(bounded, {"session_user_live": "user_id"}) == []
