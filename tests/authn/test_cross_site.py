"""A cross-site page posting to the IAM with the victim's cookies changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from iam.accounts.models import User
from iam.sessions.models import DeviceSession
from tests.conftest import PASSWORD, csrf_headers

pytestmark = pytest.mark.django_db
EVIL = {"HTTP_ORIGIN": "https://evil.example", "HTTP_REFERER": "https://evil.example/page"}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def victim(browser: Any, user: User, keys: Any) -> Any:
    response = browser.post(
        "/api/auth/login/",
        {"email": user.email, "password": PASSWORD, "transport": "cookie"},
        format="json",
        **csrf_headers(browser),
    )
    assert response.status_code == 200
    return browser


ATTACKS = [
    ("post", "/api/auth/refresh/", {}),
    ("post", "/api/auth/logout/", {}),
    ("post", "/api/auth/logout-all/", {}),
    (
        "post",
        "/api/auth/password/change/",
        {"current_password": PASSWORD, "new_password": "x" * 20},
    ),
    ("patch", "/api/auth/me/", {"name": "pwned"}),
    ("delete", "/api/auth/me/", {"password": PASSWORD}),
    ("post", "/api/auth/mfa/totp/setup/", {}),
    ("post", "/api/auth/tenant/switch/", {"tenant": "acme"}),
    # compatibility endpoints (the plan's names)
    ("post", "/api/accounts/auth/token/refresh/", {}),
    ("post", "/api/token/revoke/", {"refresh": "x"}),
    ("post", "/api/token/revoke-all/", {}),
]


def _state(user: User) -> tuple:
    session = DeviceSession.objects.get(user=user)
    user.refresh_from_db()
    return (session.refresh_jti, session.revoked_at, user.password, user.name, user.is_active)


@pytest.mark.parametrize(("method", "path", "body"), ATTACKS)
def test_a_cross_site_form_post_is_refused_and_changes_nothing(
    victim: Any, user: User, method: str, path: str, body: dict
) -> None:
    before = _state(user)
    from urllib.parse import urlencode

    form = getattr(victim, method)(path, data=urlencode(body), content_type=FORM, **EVIL)
    # exactly the CSRF refusal: a 415 would mean only the parser stood in the way
    assert (form.status_code, form.json()["code"]) == (403, "csrf_failed"), form.content
    assert "access_token" not in form.cookies  # neither new tokens nor cleared ones
    assert "refresh_token" not in form.cookies
    assert _state(user) == before


@pytest.mark.parametrize(("method", "path", "body"), ATTACKS)
def test_a_cross_site_json_request_without_the_csrf_token_is_refused(
    victim: Any, user: User, method: str, path: str, body: dict
) -> None:
    """What a page could send if a misconfigured CORS let it: JSON and the cookies, but never
    the CSRF token (it cannot read the cookie of another site)."""
    before = _state(user)
    response = getattr(victim, method)(path, body, format="json", **EVIL)
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert _state(user) == before
    assert victim.get("/api/auth/me/").status_code == 200  # still signed in


def test_the_same_requests_from_the_app_itself_work(victim: Any, user: User) -> None:
    response = victim.post("/api/auth/refresh/", {}, format="json", **csrf_headers(victim))
    assert response.status_code == 200
