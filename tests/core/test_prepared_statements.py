"""With DATABASE_PREPARED_STATEMENTS (the default) the hot statements are prepared on their
connection after a few runs: PostgreSQL then neither parses nor plans them again. The refresh's
one statement (raw SQL with typed and untyped parameters) and the sign-in's reads run prepared,
and give the same answers as before they were prepared.

PostgreSQL only (the suite's PostgreSQL run in CI)."""

from __future__ import annotations

import pytest
from django.db import connection

from iam.core.db import PREPARE_THRESHOLD
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_refresh_and_sign_in_statements_are_prepared_and_still_right(api, keys, user, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "login_ip": "100/min", "login_account": "100/min"},
    }
    assert connection.settings_dict["OPTIONS"].get("server_side_binding") is True
    runs = PREPARE_THRESHOLD + 2
    for _ in range(runs):
        login = api.post(
            "/api/auth/login/",
            {"email": user.email, "password": PASSWORD, "transport": "body"},
            format="json",
        )
        assert login.status_code == 200, login.content
    chain = [login.json()["refresh"]]
    for _ in range(runs):
        response = api.post("/api/auth/refresh/", {"refresh": chain[-1]}, format="json")
        assert response.status_code == 200, response.content
        chain.append(response.json()["refresh"])
    prepared = _prepared()
    assert any("WITH rotated AS" in s for s in prepared), prepared
    assert any('FROM "iam_accounts_user"' in s for s in prepared), prepared
    # prepared, the compare-and-swap decides as before: the token just replaced gets an access
    # token only (grace), an older one is reuse and ends the session
    grace = api.post("/api/auth/refresh/", {"refresh": chain[-2]}, format="json")
    assert grace.status_code == 200
    assert "access" in grace.json()
    assert "refresh" not in grace.json()
    reused = api.post("/api/auth/refresh/", {"refresh": chain[-3]}, format="json")
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_reused"
    current = api.post("/api/auth/refresh/", {"refresh": chain[-1]}, format="json")
    assert current.status_code == 401
