"""Issue 22, in Chromium: a single-page app at http://app.example.test:P1 uses the IAM at
http://iam.example.test:P2 (two hosts of one site; the app's origin in CORS_ALLOWED_ORIGINS,
IAM_COOKIE_DOMAIN=example.test, cookies not Secure over plain HTTP).

The app (apps/spa/iam-client.js) does what docs/api.md ("Browser apps") says: the CSRF token from
the X-CSRFToken response header, credentials on every call, a refresh when a call answers 401.
Signing in, /me, refresh and signing out work from the other origin, with either browser
transport; a page on an origin that is not listed reads nothing and changes nothing, even on a
sibling host of the same site; an app on another site cannot use the cookies at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from tests.conftest import PASSWORD

SPA = Path(__file__).parent / "apps" / "spa"
EMAIL = "alice@example.com"


@dataclass
class Deployment:
    iam: Any  # the IAMServer fixture
    app: str  # the app's origin

    def open(self, page: Any, origin: str | None = None) -> Any:
        """Load the app (from its own origin, or the one given) and wait until it is ready."""
        page.goto(f"{origin or self.app}/index.html?iam={self.iam.url}")
        page.wait_for_selector("body[data-ready=yes]")
        return page


@pytest.fixture
def deployment(iam_server: Any, static_origin: Any, settings: Any, user: Any) -> Deployment:
    app = static_origin(SPA, host="app.example.test")
    iam_server.allow_origins(app)
    settings.IAM_COOKIE_DOMAIN = "example.test"
    return Deployment(iam=iam_server, app=app)


def login(page: Any, transport: str) -> dict:
    return page.evaluate("([e, p, t]) => app.login(e, p, t)", [EMAIL, PASSWORD, transport])


def me(page: Any) -> dict:
    return page.evaluate("() => app.me()")


def session_state() -> list[tuple]:
    """Everything a request could change about the user's sessions."""
    return list(
        DeviceSession.objects.order_by("created_at").values_list(
            "id", "refresh_jti", "revoked_at", "last_used_at"
        )
    )


@pytest.mark.parametrize("transport", ["cookie", "hybrid"])
def test_sign_in_me_refresh_and_sign_out_from_another_origin(
    deployment: Deployment, page: Any, browser_context: Any, transport: str
) -> None:
    deployment.open(page)
    signed_in = login(page, transport)
    assert signed_in["status"] == 200, signed_in
    assert signed_in["body"]["user"]["email"] == EMAIL
    assert ("access" in signed_in["body"]) is (transport == "hybrid")
    assert me(page)["status"] == 200
    assert page.text_content("#who") == EMAIL

    jti = DeviceSession.objects.get().refresh_jti
    assert page.evaluate("() => app.refresh()") is True
    assert DeviceSession.objects.get().refresh_jti != jti  # rotated by the refresh
    assert me(page)["status"] == 200

    assert page.evaluate("() => app.logout()") == 204
    assert me(page)["status"] == 401
    assert page.text_content("#who") == "signed out"
    session = DeviceSession.objects.get()
    assert session.revoked_at is not None
    assert session.revoke_reason == "logout"
    # one CSRF fetch before signing in; the login's rotated token came in its answer
    assert page.evaluate("() => app.stats()") == {"csrfFetches": 1, "refreshes": 2}

    cookies = {c["name"]: c for c in browser_context.cookies()}
    assert cookies["csrftoken"]["domain"] == "iam.example.test"  # never the sibling hosts'
    assert "access_token" not in cookies  # cleared by the logout
    assert "csrftoken" not in page.evaluate("() => document.cookie")


def test_the_token_cookies_reach_the_sibling_hosts_and_no_script(
    deployment: Deployment, page: Any, browser_context: Any
) -> None:
    deployment.open(page)
    assert login(page, "cookie")["status"] == 200
    cookies = {c["name"]: c for c in browser_context.cookies()}
    for name in ("access_token", "refresh_token"):
        assert cookies[name]["domain"] == ".example.test"
        assert cookies[name]["httpOnly"] is True
        assert cookies[name]["sameSite"] == "Lax"
    assert page.evaluate("() => document.cookie") == ""


def test_hybrid_after_a_page_load_refreshes_silently(deployment: Deployment, page: Any) -> None:
    """The access token lives in memory only: a reload forgets it, and the first call's 401 is
    answered by a refresh over the cookie (with a CSRF token fetched for the new page)."""
    deployment.open(page)
    assert login(page, "hybrid")["status"] == 200
    deployment.open(page)  # a page load: nothing in memory
    assert me(page)["status"] == 200
    assert page.evaluate("() => app.stats()") == {"csrfFetches": 1, "refreshes": 1}


@pytest.mark.parametrize("transport", ["cookie", "hybrid"])
def test_an_expired_access_token_is_refreshed_by_the_401_interceptor(
    deployment: Deployment, page: Any, transport: str
) -> None:
    deployment.open(page)
    assert login(page, transport)["status"] == 200
    jti = DeviceSession.objects.get().refresh_jti
    # the server's clock (this process) passes the access token's lifetime; the browser still
    # sends the access cookie or header it has
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=True):
        answer = me(page)
    assert answer["status"] == 200
    assert answer["body"]["email"] == EMAIL
    assert DeviceSession.objects.get().refresh_jti != jti
    assert page.evaluate("() => app.stats()")["refreshes"] == 1


@pytest.mark.parametrize("transport", ["cookie", "hybrid"])
def test_logout_all_from_another_origin_ends_every_device(
    deployment: Deployment, browsing: Any, transport: str
) -> None:
    laptop = deployment.open(browsing.page())
    phone = deployment.open(browsing.page(browsing.context()))
    assert login(laptop, transport)["status"] == 200
    assert login(phone, transport)["status"] == 200
    ended = laptop.evaluate("() => app.logoutAll()")
    assert ended == {"status": 200, "body": {"revoked": 2}}
    assert me(phone)["status"] == 401
    assert me(laptop)["status"] == 401
    assert DeviceSession.objects.filter(revoked_at__isnull=True).count() == 0


def test_another_tab_signing_in_again_does_not_strand_this_one(
    deployment: Deployment, browsing: Any
) -> None:
    """A second login in another tab rotates the CSRF token under the first tab: its next
    unsafe call gets 403 csrf_failed, fetches the current token once, and goes through."""
    first = deployment.open(browsing.page())
    second = deployment.open(browsing.page())  # same browser, same cookies
    assert login(first, "cookie")["status"] == 200
    assert login(second, "cookie")["status"] == 200
    assert first.evaluate("() => app.refresh()") is True
    assert first.evaluate("() => app.stats()")["csrfFetches"] == 2


ATTACK = """async (iam) => {
    const tried = {};
    const attempt = async (name, run) => {
        try {
            const response = await run();
            tried[name] = {status: response.status, type: response.type};
        } catch (error) {
            tried[name] = {refused: String(error)};
        }
    };
    const json = {method: "POST", credentials: "include", body: "{}",
                  headers: {"Content-Type": "application/json", "X-CSRFToken": "guess"}};
    await attempt("csrf", () => fetch(`${iam}/api/auth/csrf/`, {credentials: "include"}));
    await attempt("me", () => fetch(`${iam}/api/auth/me/`, {credentials: "include"}));
    for (const path of ["refresh", "logout", "logout-all"]) {
        await attempt(path, () => fetch(`${iam}/api/auth/${path}/`, json));
        // what needs no preflight: no body, no custom header, the answer unreadable
        await attempt(`${path} no-cors`, () => fetch(`${iam}/api/auth/${path}/`,
            {method: "POST", mode: "no-cors", credentials: "include"}));
    }
    tried.cookies = document.cookie;
    return tried;
}"""


def test_an_origin_not_listed_reads_nothing_and_changes_nothing(
    deployment: Deployment, browsing: Any, static_origin: Any
) -> None:
    """The victim is signed in through the app; a page on a sibling host of the same site
    (its requests carry the SameSite=Lax cookies) is not in CORS_ALLOWED_ORIGINS."""
    victim = deployment.open(browsing.page())
    assert login(victim, "cookie")["status"] == 200
    before = session_state(), AuditEvent.objects.count()

    sibling = static_origin(SPA, host="evil.example.test")
    evil = browsing.page()  # same browser: the victim's cookies
    evil.goto(f"{sibling}/index.html")
    tried = evil.evaluate(ATTACK, deployment.iam.url)

    for name in ("csrf", "me", "refresh", "logout", "logout-all"):
        assert "Failed to fetch" in tried[name]["refused"], (name, tried[name])
    for name in ("refresh no-cors", "logout no-cors", "logout-all no-cors"):
        assert tried[name] == {"status": 0, "type": "opaque"}  # sent, refused, unreadable
    assert tried["cookies"] == ""  # the CSRF cookie stays on the IAM's host
    assert (session_state(), AuditEvent.objects.count()) == before
    assert me(victim)["status"] == 200  # still signed in, never refreshed by the attacker


def test_an_app_on_another_site_cannot_use_the_cookies(
    deployment: Deployment, browsing: Any, static_origin: Any
) -> None:
    """Not supported (docs/api.md): from another site, the SameSite=Lax cookies are neither kept
    nor sent. Listed in CORS, such an app can use the body transport (bearer tokens) only."""
    elsewhere = static_origin(SPA, host="app.elsewhere.test")
    deployment.iam.allow_origins(deployment.app, elsewhere)
    page = deployment.open(browsing.page(), elsewhere)
    assert login(page, "cookie")["status"] == 200  # readable: the origin is listed
    assert me(page)["status"] == 401  # but the cookies were refused
    assert page.evaluate("() => app.refresh()") is False
    assert login(page, "body")["status"] == 200
    assert me(page)["status"] == 200  # bearer
