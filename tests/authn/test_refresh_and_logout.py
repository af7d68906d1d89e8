"""Refresh and logout by each transport, and the CSRF wall for cookies."""

from __future__ import annotations

import pytest

from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from tests.conftest import csrf_headers

pytestmark = pytest.mark.django_db


def test_cookie_refresh_answers_by_cookie(browser, user, login):
    login(browser, transport="cookie")
    old = browser.cookies["refresh_token"].value
    response = browser.post("/api/auth/refresh/", {}, format="json", **csrf_headers(browser))
    assert response.status_code == 200
    assert "access" not in response.json()
    assert "refresh" not in response.json()
    assert response.cookies["refresh_token"].value != old
    assert response.cookies["refresh_token"]["path"] == "/api/auth/"
    assert "no-store" in response["Cache-Control"]


def test_hybrid_refresh_returns_access_in_body_and_refresh_in_cookie(browser, user, login):
    login(browser, transport="hybrid")
    response = browser.post("/api/auth/refresh/", {}, format="json", **csrf_headers(browser))
    assert response.status_code == 200
    assert "access" in response.json()
    assert "refresh" not in response.json()
    assert "refresh_token" in response.cookies


def test_cookie_refresh_without_csrf_is_refused(browser, user, login):
    login(browser, transport="cookie")
    response = browser.post("/api/auth/refresh/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


def test_cross_site_post_cannot_refresh_or_log_out(browser, user, login):
    login(browser, transport="cookie")
    headers = csrf_headers(browser)
    evil = {"HTTP_ORIGIN": "https://evil.example", "secure": True, **headers}
    for path in ("/api/auth/refresh/", "/api/auth/logout/"):
        # JSON, the one body these endpoints parse: only the CSRF check can refuse it
        response = browser.post(path, {}, format="json", **evil)
        assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")
        # a form post (what a cross-site page can send) is not even parsed: JSON only
        form = browser.post(path, "a=b", content_type="application/x-www-form-urlencoded")
        assert (form.status_code, form.json()["code"]) == (415, "unsupported_media_type")
    assert DeviceSession.objects.get().revoked_at is None


def test_no_refresh_token_at_all(api, keys):
    response = api.post("/api/auth/refresh/", {}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_logout_by_cookie_clears_cookies_and_revokes(browser, user, login):
    login(browser, transport="cookie")
    response = browser.post("/api/auth/logout/", {}, format="json", **csrf_headers(browser))
    assert response.status_code == 204
    for name in ("access_token", "refresh_token"):
        assert response.cookies[name].value == ""
        assert response.cookies[name]["max-age"] == 0
    session = DeviceSession.objects.get()
    assert session.revoke_reason == "logout"
    assert AuditEvent.objects.filter(type="session:session:logout", session_id=session.id).exists()


def test_logout_by_body_refresh(api, tokens):
    assert (
        api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code
        == 204
    )
    assert DeviceSession.objects.get().revoked_at is not None
    response = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "session_revoked"


def test_logout_by_bearer_sid(api, tokens):
    response = api.post(
        "/api/auth/logout/", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}"
    )
    assert response.status_code == 204
    assert DeviceSession.objects.get().revoked_at is not None


def test_logout_is_idempotent(api, tokens):
    for _ in range(2):
        assert (
            api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code
            == 204
        )
    assert api.post("/api/auth/logout/", {}, format="json").status_code == 204
    assert AuditEvent.objects.filter(type="session:session:logout").count() == 1


def test_logout_only_ends_its_own_session(api, user, login):
    first, second = login(api).json(), login(api).json()
    api.post("/api/auth/logout/", {"refresh": first["refresh"]}, format="json")
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {second['access']}")
    assert me.status_code == 200


def test_csrf_endpoint_sets_the_cookie(browser, keys):
    response = browser.get("/api/auth/csrf/")
    assert response.status_code == 204
    assert response.cookies["csrftoken"].value
