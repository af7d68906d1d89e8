"""Regression tests for attacks found in review: each one once got through."""

from __future__ import annotations

import pytest
from django.test import override_settings

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_junk_body_refresh_does_not_skip_csrf_for_cookie_logout(browser, user, login):
    login(browser, transport="cookie")
    response = browser.post("/api/auth/logout/", {"refresh": "garbage"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert DeviceSession.objects.get().revoked_at is None


@pytest.mark.parametrize(
    "body",
    [
        {"email": "\ud800@x.com", "password": "x"},
        {"username": "\ud800", "password": "x"},
        {"email": "a@example.com", "password": "x", "transport": "\ud800"},
        {"email": "a\u0000@example.com", "password": "x"},
    ],
)
def test_hostile_strings_get_a_400_not_a_500(api, keys, body):
    for path in ("/api/auth/login/", "/api/token/"):
        response = api.post(path, body, format="json")
        assert response.status_code in (400, 401), response.content
        assert response.json()["code"]


def test_deeply_nested_json_is_a_parse_error(api, keys):
    body = "[" * 20000 + "]" * 20000
    response = api.post("/api/auth/login/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_account_throttle_counts_numbers_and_both_identifiers_together(api, keys):
    User.objects.create_user(email="n@example.com", username="12345", password=PASSWORD)
    bodies = [
        {"username": 12345},
        {"email": "N@example.com"},
        {"username": "12345"},
        {"email": "n@example.com"},
        {"username": 12345},
    ]
    for i, body in enumerate(bodies):
        api.post(
            "/api/auth/login/",
            {**body, "password": "wrong"},
            format="json",
            REMOTE_ADDR=f"10.1.0.{i}",
        )
    response = api.post(
        "/api/auth/login/",
        {"username": "12345", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="10.1.0.99",
    )
    assert response.status_code == 429


def test_malformed_bearer_header_does_not_block_logout(api, tokens):
    response = api.post(
        "/api/auth/logout/",
        {"refresh": tokens["refresh"]},
        format="json",
        HTTP_AUTHORIZATION="Bearer",
    )
    assert response.status_code == 204
    assert DeviceSession.objects.get().revoked_at is not None


def test_logout_with_a_long_rotated_token_is_recorded_as_reuse(api, tokens):
    second = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").json()
    api.post("/api/auth/refresh/", {"refresh": second["refresh"]}, format="json")
    response = api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    assert DeviceSession.objects.get().revoke_reason == "refresh_reused"
    assert AuditEvent.objects.filter(type="session:refresh:reuse_detected").exists()


def test_logout_cookies_are_expired_with_their_flags(browser, user, login):
    from tests.conftest import csrf_headers

    login(browser, transport="cookie")
    response = browser.post("/api/auth/logout/", {}, format="json", **csrf_headers(browser))
    for name in ("access_token", "refresh_token"):
        cookie = response.cookies[name]
        assert cookie["httponly"]
        assert cookie["secure"]
        assert cookie["samesite"] == "Lax"


@override_settings(IAM_AUTH_STATE_CACHE="on")
def test_deleted_session_is_refused_at_once_even_from_the_cache(api, tokens):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    assert api.get("/api/auth/me/", **headers).status_code == 200
    DeviceSession.objects.all().delete()
    assert api.get("/api/auth/me/", **headers).status_code == 401


def test_admin_revokes_sessions_instead_of_deleting(tokens, rf):
    from django.contrib.admin.sites import AdminSite
    from django.contrib.messages.storage.fallback import FallbackStorage

    from iam.sessions.admin import DeviceSessionAdmin

    admin = DeviceSessionAdmin(DeviceSession, AdminSite())
    request = rf.post("/")
    request.session = {}
    request._messages = FallbackStorage(request)
    assert not admin.has_delete_permission(request)
    admin.revoke(request, DeviceSession.objects.all())
    assert DeviceSession.objects.get().revoke_reason == "admin"
