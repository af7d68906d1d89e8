"""A browser app on another origin (listed in CORS_ALLOWED_ORIGINS) gets the CSRF token it must
send from the X-CSRFToken response header: of /api/auth/csrf/, and of every login that sets a new
one. Nobody else gets anything more than before: the token is bound to the cookie, the Origin is
checked, and CORS shows the header to the listed origins only.

The same flows in a real browser: tests/browser/test_cross_origin_app.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from iam.sessions.models import DeviceSession
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
APP = "https://app.example.com"
FROM_APP = {"HTTP_ORIGIN": APP}


@pytest.fixture(autouse=True)
def _the_app_is_listed(settings: Any) -> None:
    # as config/settings.py derives it from CORS_ALLOWED_ORIGINS
    settings.CORS_ALLOWED_ORIGINS = [APP]
    settings.CSRF_TRUSTED_ORIGINS = [APP]


def csrf_from_header(client: APIClient) -> str:
    """What the app does: GET /api/auth/csrf/ and keep the header (it cannot read the cookie)."""
    response = client.get("/api/auth/csrf/", **FROM_APP)
    assert response.status_code == 204
    return response["X-CSRFToken"]


def sign_in(client: APIClient, transport: str = "cookie") -> Any:
    response = client.post(
        "/api/auth/login/",
        {"email": "alice@example.com", "password": PASSWORD, "transport": transport},
        format="json",
        **FROM_APP,
    )
    assert response.status_code == 200, response.content
    return response


def test_the_csrf_endpoint_hands_the_token_to_the_listed_origin(browser: APIClient) -> None:
    response = browser.get("/api/auth/csrf/", **FROM_APP)
    assert response.status_code == 204
    assert response.content == b""  # the contract stays: 204, the token only in a header
    assert response["X-CSRFToken"]
    assert response.cookies["csrftoken"].value
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Access-Control-Allow-Credentials"] == "true"
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert "x-csrftoken" in exposed


def test_an_unlisted_origin_is_not_allowed_to_read_the_answer(browser: APIClient) -> None:
    """The header is sent, as it always was in the cookie; without Access-Control-Allow-Origin a
    browser shows the page of that origin nothing of the response (tests/browser proves it)."""
    response = browser.get("/api/auth/csrf/", HTTP_ORIGIN="https://app.example.com.evil.test")
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Expose-Headers" not in response


def test_the_header_token_lets_the_app_refresh_and_sign_out(
    browser: APIClient, user: Any, keys: Any
) -> None:
    token = sign_in(browser)["X-CSRFToken"]
    refreshed = browser.post(
        "/api/auth/refresh/", {}, format="json", HTTP_X_CSRFTOKEN=token, **FROM_APP
    )
    assert refreshed.status_code == 200, refreshed.content
    logout = browser.post(
        "/api/auth/logout/", {}, format="json", HTTP_X_CSRFTOKEN=token, **FROM_APP
    )
    assert logout.status_code == 204
    assert DeviceSession.objects.get().revoked_at is not None
    assert browser.get("/api/auth/me/", **FROM_APP).status_code == 401


@pytest.mark.parametrize("transport", ["cookie", "hybrid"])
def test_a_login_rotates_the_token_and_hands_out_the_new_one(
    browser: APIClient, user: Any, keys: Any, transport: str
) -> None:
    before = csrf_from_header(browser)
    cookie_before = browser.cookies["csrftoken"].value
    login = sign_in(browser, transport)
    assert browser.cookies["csrftoken"].value != cookie_before  # rotated
    stale = browser.post(
        "/api/auth/refresh/", {}, format="json", HTTP_X_CSRFTOKEN=before, **FROM_APP
    )
    assert stale.status_code == 403
    assert stale.json()["code"] == "csrf_failed"
    fresh = browser.post(
        "/api/auth/refresh/", {}, format="json", HTTP_X_CSRFTOKEN=login["X-CSRFToken"], **FROM_APP
    )
    assert fresh.status_code == 200, fresh.content


def test_a_body_transport_login_has_no_cookie_and_no_token(
    browser: APIClient, user: Any, keys: Any
) -> None:
    response = sign_in(browser, "body")
    assert "X-CSRFToken" not in response
    assert "csrftoken" not in response.cookies


def test_a_token_is_bound_to_its_own_cookie(browser: APIClient, user: Any, keys: Any) -> None:
    """A token handed to someone else (an attacker's own visit) is worth nothing with the
    victim's cookie."""
    sign_in(browser)
    attackers = csrf_from_header(APIClient(enforce_csrf_checks=True))
    response = browser.post(
        "/api/auth/refresh/", {}, format="json", HTTP_X_CSRFTOKEN=attackers, **FROM_APP
    )
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


@pytest.mark.parametrize(
    "origin", [None, "https://evil.example.com", "http://app.example.com", "null"]
)
@pytest.mark.parametrize("path", ["/api/auth/refresh/", "/api/auth/logout/"])
def test_the_right_token_from_another_origin_is_still_refused(
    browser: APIClient, user: Any, keys: Any, origin: str | None, path: str
) -> None:
    """The header does not weaken the Origin check: a page on an unlisted origin that somehow
    held the token still cannot use the cookies (an https request without an Origin needs a
    matching Referer)."""
    token = sign_in(browser)["X-CSRFToken"]
    extra = {"HTTP_ORIGIN": origin} if origin else {}
    response = browser.post(path, {}, format="json", HTTP_X_CSRFTOKEN=token, secure=True, **extra)
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert DeviceSession.objects.get().revoked_at is None


def test_a_request_without_the_token_is_refused(browser: APIClient, user: Any, keys: Any) -> None:
    sign_in(browser)
    for path in ("/api/auth/refresh/", "/api/auth/logout/", "/api/auth/logout-all/"):
        response = browser.post(path, {}, format="json", **FROM_APP)
        assert response.status_code == 403, path
        assert response.json()["code"] == "csrf_failed"
    assert DeviceSession.objects.get().revoked_at is None


def test_hybrid_logout_all_rides_on_the_bearer_token(
    browser: APIClient, user: Any, keys: Any
) -> None:
    """In memory, the access token is not a cookie: no CSRF token is needed (the refresh cookie
    travels along, but it authenticates nothing there)."""
    access = sign_in(browser, "hybrid").json()["access"]
    response = browser.post(
        "/api/auth/logout-all/",
        {},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
        **FROM_APP,
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"revoked": 1}
    assert response.cookies["refresh_token"]["max-age"] == 0


def test_token_cookies_follow_the_cookie_domain_and_the_csrf_cookie_stays_home(
    browser: APIClient, user: Any, keys: Any, settings: Any
) -> None:
    """With IAM_COOKIE_DOMAIN the token cookies reach the sibling hosts; the CSRF cookie stays
    on the IAM's host, so that no sibling host can read the token (apps get it from the
    header)."""
    settings.IAM_COOKIE_DOMAIN = "example.com"
    csrf = browser.get("/api/auth/csrf/", **FROM_APP)
    login = sign_in(browser)
    assert login.cookies["access_token"]["domain"] == "example.com"
    assert login.cookies["refresh_token"]["domain"] == "example.com"
    assert login.cookies["csrftoken"]["domain"] == ""
    assert csrf.cookies["csrftoken"]["domain"] == ""
    logout = browser.post(
        "/api/auth/logout/", {}, format="json", HTTP_X_CSRFTOKEN=login["X-CSRFToken"], **FROM_APP
    )
    assert logout.cookies["refresh_token"]["domain"] == "example.com"  # cleared where it was set
