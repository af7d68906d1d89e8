"""Login through the HTTP API: transports, cookie flags, uniform failures, throttling, audit."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.settings import api_settings

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_cookie_transport_keeps_tokens_out_of_the_body(api, user, login):
    response = login(api, transport="cookie")
    assert response.status_code == 200
    body = response.json()
    assert "access" not in body
    assert "refresh" not in body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user"]["email"] == "alice@example.com"
    access, refresh = response.cookies["access_token"], response.cookies["refresh_token"]
    for cookie in (access, refresh):
        assert cookie["httponly"]
        assert cookie["secure"]
        assert cookie["samesite"] == "Lax"
    assert access["path"] == "/"
    assert access["max-age"] == 900
    assert refresh["path"] == "/api/auth/"
    assert refresh["max-age"] == 7 * 24 * 3600
    assert "no-store" in response["Cache-Control"]
    assert DeviceSession.objects.get().transport == "cookie"


def test_default_transport_is_cookie(api, user, keys):
    response = api.post(
        "/api/auth/login/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert "access_token" in response.cookies
    assert "access" not in response.json()


def test_hybrid_transport(api, user, login):
    response = login(api, transport="hybrid")
    assert "access" in response.json()
    assert "refresh" not in response.json()
    assert "refresh_token" in response.cookies
    assert "access_token" not in response.cookies


def test_body_transport_sets_no_cookies(api, user, login):
    response = login(api, transport="body")
    assert {"access", "refresh"} <= set(response.json())
    assert "access_token" not in response.cookies
    assert "refresh_token" not in response.cookies


def test_login_by_username_and_any_email_case(api, user, keys):
    for body in ({"username": "ALICE"}, {"email": "Alice@Example.COM"}):
        response = api.post(
            "/api/auth/login/", {**body, "password": PASSWORD, "transport": "body"}, format="json"
        )
        assert response.status_code == 200, body


@override_settings(IAM_COOKIE_SECURE=False)
def test_plain_http_dev_cookies_drop_secure(api, user, login):
    assert not login(api, transport="cookie").cookies["access_token"]["secure"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "alice@example.com", "password": "wrong password!"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"username": "nobody", "password": PASSWORD},
    ],
)
def test_wrong_credentials_answer_identically(api, user, keys, body):
    response = api.post("/api/auth/login/", body, format="json")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "The credentials are not valid.",
        "code": "invalid_credentials",
    }
    assert "access_token" not in response.cookies


def test_unknown_account_costs_a_password_hash(api, keys, monkeypatch):
    import iam.authn.flows as flows

    calls = []
    monkeypatch.setattr(flows, "make_password", lambda raw: calls.append(raw))
    api.post(
        "/api/auth/login/", {"email": "ghost@example.com", "password": "x" * 12}, format="json"
    )
    assert calls == ["x" * 12]


def test_inactive_account_looks_like_wrong_credentials(api, user, login):
    user.is_active = False
    user.save()
    response = login(api)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_unverified_email_is_refused_only_with_the_right_password(api, user, login):
    user.email_verified = False
    user.save()
    assert login(api, password="wrong password!").json()["code"] == "invalid_credentials"
    response = login(api)
    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"
    with override_settings(IAM_REQUIRE_EMAIL_VERIFICATION=False):
        assert login(api).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"password": PASSWORD},
        {"email": "alice@example.com"},
        {"email": "alice@example.com", "password": PASSWORD, "transport": "carrier-pigeon"},
        {"email": ["a"], "password": {"x": 1}},
        {"email": "a" * 300, "password": PASSWORD},
        {"email": "alice@example.com", "password": "p" * 5000},
    ],
)
def test_bad_input_is_a_clear_400(api, keys, body):
    response = api.post("/api/auth/login/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"]
    assert response.json()["detail"]


def test_malformed_json_and_wrong_content_type(api, keys):
    response = api.post("/api/auth/login/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    response = api.post("/api/auth/login/", "email=a&password=b", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_audit_events_for_success_and_failure(api, user, login):
    login(api, password="wrong password!")
    login(api, HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="198.51.100.4")
    failed = AuditEvent.objects.get(type="user:login:failed")
    assert failed.user_id == user.id
    assert failed.data == {"reason": "bad_password"}
    ok = AuditEvent.objects.get(type="user:login:succeeded")
    assert ok.ip == "198.51.100.4"
    assert ok.user_agent == "Firefox/140"
    assert ok.session_id == DeviceSession.objects.get().id
    assert PASSWORD not in str(failed.data) + str(ok.data)


def test_session_records_the_device(api, user, login):
    login(api, HTTP_USER_AGENT="Mozilla/5.0 Test", REMOTE_ADDR="198.51.100.9")
    session = DeviceSession.objects.get()
    assert (session.ip, session.user_agent, session.amr) == (
        "198.51.100.9",
        "Mozilla/5.0 Test",
        ["pwd"],
    )


class TestThrottling:
    def test_per_ip_limit_answers_429_with_retry_after_before_hashing(
        self, api, user, login, monkeypatch
    ):
        from django.contrib.auth.hashers import MD5PasswordHasher

        for _ in range(5):
            assert login(api, email=f"someone{_}@example.com").status_code == 401
        hashed = []
        monkeypatch.setattr(MD5PasswordHasher, "verify", lambda *a: hashed.append(1))
        response = login(api)
        assert response.status_code == 429
        assert response.json()["code"] == "throttled"
        assert int(response["Retry-After"]) > 0
        assert hashed == []

    def test_per_account_limit_ignores_letter_case_and_ip(self, api, user, login):
        for i in range(5):
            email = "alice@example.com" if i % 2 else "ALICE@example.com"
            login(api, email=email, password="wrong!", REMOTE_ADDR=f"10.0.0.{i}")
        response = login(api, REMOTE_ADDR="10.0.0.99")
        assert response.status_code == 429

    def test_spoofed_forwarded_for_does_not_dodge_the_ip_limit(self, api, user, login):
        for i in range(5):
            login(api, email=f"x{i}@example.com", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
        response = login(api, HTTP_X_FORWARDED_FOR="192.0.2.200")
        assert response.status_code == 429

    def test_success_does_not_reset_the_counter(self, api, user, login):
        for _ in range(4):
            login(api, password="wrong!")
        assert login(api).status_code == 200
        assert login(api).status_code == 429

    def test_rates_come_from_settings(self, api, user, login):
        rates = {**api_settings.DEFAULT_THROTTLE_RATES, "login_ip": "2/min"}
        with override_settings(REST_FRAMEWORK={**_rest(), "DEFAULT_THROTTLE_RATES": rates}):
            login(api, email="a@example.com")
            login(api, email="b@example.com")
            assert login(api).status_code == 429


def _rest() -> dict:
    from django.conf import settings

    return settings.REST_FRAMEWORK


def test_login_upgrades_a_pbkdf2_hash_to_argon2(api, keys, settings):
    settings.PASSWORD_HASHERS = [
        "iam.accounts.hashers.IAMArgon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    from django.contrib.auth.hashers import make_password

    user = User.objects.create(
        email="old@example.com",
        email_verified=True,
        password=make_password(PASSWORD, hasher="pbkdf2_sha256"),
    )
    response = api.post(
        "/api/auth/login/",
        {"email": "old@example.com", "password": PASSWORD, "transport": "body"},
        format="json",
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


def test_login_looks_the_account_up_once(api, user, login, monkeypatch):
    import iam.accounts.throttles as throttles

    lookups = []
    real = throttles.user_get_by_login
    monkeypatch.setattr(
        throttles, "user_get_by_login", lambda **kw: lookups.append(kw) or real(**kw)
    )
    assert login(api).status_code == 200
    assert len(lookups) == 1  # shared by the per-account throttle and the login flow


def test_a_password_login_asks_mfa_and_device_history_in_one_statement(api, user, login):
    """Whether MFA is on and whether this device signed in before are one statement after the
    row lock (current once the lock is held), not a query each."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert login(api).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert login(api).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    locks = [i for i, q in enumerate(sql) if "FOR UPDATE" in q]
    reads = [
        i for i, q in enumerate(sql) if q.startswith("SELECT") and "iam_sessions_devicesession" in q
    ]
    assert [i for i, q in enumerate(sql) if "iam_mfa_totpdevice" in q] == reads
    assert len(reads) == 1
    # the user's default tenant (none here) and the tenant whose own domain the request came
    # to (none) ride on the same statement: no query of their own
    assert [i for i, q in enumerate(sql) if "iam_tenancy_membership" in q] == reads
    assert [i for i, q in enumerate(sql) if "iam_tenancy_tenant" in q] == reads
    if connection.vendor == "postgresql":
        assert len(locks) == 1
        assert locks[0] < reads[0]


def test_a_sign_in_is_recorded_with_its_session_in_one_statement(api, user, login):
    """The new session, the user's last_login and the audit row are one statement on PostgreSQL
    (three elsewhere), after the facts read under the row lock; all three are written."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from iam.audit.models import AuditEvent
    from iam.sessions.models import DeviceSession

    login(api)  # loads the key ring
    DeviceSession.objects.all().delete()
    AuditEvent.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        body = login(api, HTTP_USER_AGENT="agent/1").json()
    sql = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    writes = [q for q in sql if not q.startswith("SELECT")]
    if connection.vendor == "postgresql":
        assert len(writes) == 1
        assert writes[0].lstrip().startswith("WITH opened AS (INSERT")
        assert len(sql) == 4  # account, lock, facts (and the tenant), write
    else:
        assert [q.split()[0] for q in writes] == ["INSERT", "UPDATE", "INSERT"]
    session = DeviceSession.objects.get()
    event = AuditEvent.objects.get(type="user:login:succeeded")
    assert (event.session_id, event.user_id, event.user_agent) == (session.pk, user.pk, "agent/1")
    assert event.data == {"transport": "body", "amr": ["pwd"], "tenant": None}
    user.refresh_from_db()
    assert user.last_login == session.created_at
    assert session.user_agent == "agent/1"
    assert session.refresh_jti == jwt_claims(body["refresh"])["jti"]


def jwt_claims(token):
    import jwt

    return jwt.decode(token, options={"verify_signature": False})
