"""The hosted pages' sign-in as it lives in a browser: the silent refresh before and after the
access token expires, two tabs sharing one session (one rotation per refresh, never a theft
alarm; a sign-out in one ends the other), keyboard-only sign-in, and what a person sees when
something goes wrong (wrong password, limits, an unreachable server, a field the API refuses)."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def person(db: Any) -> User:
    return User.objects.create_user(email="ada@example.com", password=PASSWORD, email_verified=True)


@pytest.fixture
def short_tokens(settings: Any) -> int:
    """Access tokens that live 4 seconds (no leeway), and refreshes not limited per session."""
    settings.SIMPLE_JWT = {
        **settings.SIMPLE_JWT,
        "ACCESS_TOKEN_LIFETIME": timedelta(seconds=4),
        "LEEWAY": 0,
    }
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    rates["refresh_session"] = "1000/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    return 4


def sign_in(page: Any, hosted: Any, next_path: str = "/account") -> None:
    hosted.open(page, f"/sign-in?next={next_path}")
    page.get_by_label("E-mail address").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(hosted.url + next_path)
    hosted.ready(page)


def two_tabs(hosted: Any, browsing: Any) -> tuple[list[Any], Any, Any]:
    """Signed in on /account in one tab, /account/sessions open in a second: (the refreshes
    either makes, the first, the second)."""
    context = browsing.context()
    seen = refreshes(context)
    first = browsing.page(context)
    sign_in(first, hosted)
    second = browsing.page(context)
    hosted.open(second, "/account/sessions")
    hosted.ready(second)
    return seen, first, second


def refreshes(context: Any) -> list[Any]:
    """(time, status) of every POST /api/auth/refresh/ any page of the context makes."""
    seen: list[tuple[float, int]] = []
    context.on(
        "response",
        lambda r: (
            r.url.endswith("/api/auth/refresh/")
            and seen.append((r.request.timing["startTime"], r.status, r.frame.url))
        ),
    )
    return seen


def test_an_open_page_refreshes_before_the_access_token_expires(
    hosted: Any, browsing: Any, person: User, short_tokens: int
) -> None:
    context = browsing.context()
    seen = refreshes(context)
    page = browsing.page(context)
    sign_in(page, hosted, "/account/sessions")
    # three lifetimes later the page has kept itself signed in, refreshing ahead of time
    page.wait_for_timeout(short_tokens * 3 * 1000)
    assert len(seen) >= 3
    assert all(status == 200 for _, status, *_ in seen)
    page.get_by_role("button", name="Sign out all other devices").click()
    expect(page.locator("#status")).to_have_text("Signed out 0 other devices.")
    unauthorised = [line for line in hosted.browsing.console if "401" in line]
    assert not unauthorised  # never once did a call meet an expired token

    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?notice=signed_out$"))
    assert not DeviceSession.objects.filter(user=person, revoked_at__isnull=True).exists()


def test_an_expired_access_token_is_refreshed_silently(
    hosted: Any, browsing: Any, person: User, short_tokens: int
) -> None:
    """A laptop that slept: no page was open when the access token (and its cookie) expired."""
    context = browsing.context()
    page = browsing.page(context)
    sign_in(page, hosted)
    page.close()
    seen = refreshes(context)
    browsing.page(context).wait_for_timeout(short_tokens * 1000 + 500)
    assert not [c for c in context.cookies() if c["name"] == "access_token"]  # expired

    page = browsing.page(context)
    hosted.open(page, "/account/security-log")
    hosted.ready(page)
    expect(page.locator("#who-email")).to_have_text("ada@example.com")
    assert [status for _, status, *_ in seen] == [200]
    assert [c for c in context.cookies() if c["name"] == "access_token"]


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("127.0.0.1", id="web-locks"),
        # not a secure context: no Web Locks; the broadcast and the grace window carry it
        pytest.param("iam.example.test", id="no-web-locks"),
    ],
)
def test_two_tabs_stay_signed_in_together_and_sign_out_together(
    hosted: Any, browsing: Any, person: User, short_tokens: int, host: str
) -> None:
    hosted.url = re.sub(r"//[^:]+:", f"//{host}:", hosted.url)
    seen, first, second = two_tabs(hosted, browsing)
    assert first.evaluate("() => Boolean(navigator.locks)") is (host == "127.0.0.1")

    first.wait_for_timeout(short_tokens * 3 * 1000)
    assert len(seen) >= 3
    assert all(status == 200 for _, status, *_ in seen)
    if host == "127.0.0.1":
        # one rotation per lifetime for both tabs: they never both refreshed
        starts = sorted(t for t, *_ in seen)
        assert all(b - a > 1000 for a, b in itertools.pairwise(starts)), seen
    session = DeviceSession.objects.get(user=person)
    assert session.revoked_at is None
    assert not AuditEvent.objects.filter(type="session:refresh:reuse_detected").exists()
    for page in (first, second):
        page.reload()
        hosted.ready(page)
        expect(page.locator("#who-email")).to_have_text("ada@example.com")

    # a sign-out in one tab signs the other out at once
    first.get_by_role("button", name="Sign out").click()
    expect(first).to_have_url(re.compile(r"/sign-in\?notice=signed_out$"))
    expect(second).to_have_url(re.compile(r"/sign-in\?notice=signed_out$"))


def test_signing_in_with_the_keyboard_only(hosted: Any, browsing: Any, person: User) -> None:
    page = browsing.page()
    hosted.open(page, "/sign-in")
    order = []
    for _ in range(6):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate(
                "() => document.activeElement.id || document.activeElement.textContent.trim()"
            )
        )
    assert order == [
        "Skip to content",
        "IAM",
        "signin-email",
        "signin-password",
        "Sign in",
        "Forgot your password?",
    ]
    # the focused control is visibly marked
    page.keyboard.press("Shift+Tab")
    ring = page.evaluate("() => getComputedStyle(document.activeElement).boxShadow")
    assert ring not in ("", "none")

    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("ada@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(hosted.url + "/account")
    hosted.ready(page)


def test_what_a_person_sees_when_something_goes_wrong(
    hosted: Any, browsing: Any, person: User, settings: Any
) -> None:
    page = browsing.page()
    hosted.open(page, "/sign-in")
    alert = page.locator("#password-form .alert")

    # nothing typed: each empty field says so, tied to its input
    page.get_by_role("button", name="Sign in").click()
    email = page.get_by_label("E-mail address")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description("Please fill in this field.")
    expect(email).to_be_focused()

    # a wrong password: the sentence, focus on it
    email.fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(alert).to_have_text("The e-mail address or the password is not correct.")
    expect(alert).to_be_focused()
    expect(email).not_to_have_attribute("aria-invalid", "true")

    # the server cannot be reached: said so, and what was typed stays
    page.route("**/api/auth/login/", lambda route: route.abort())
    page.get_by_role("button", name="Sign in").click()
    expect(alert).to_contain_text("Could not reach the server.")
    expect(email).to_have_value("ada@example.com")
    expect(page.get_by_label("Password", exact=True)).to_have_value("not the password at all")
    page.unroute("**/api/auth/login/")
    browsing.console.clear()  # the browser's own line for the request we cut

    # a limit: says when to try again
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    rates["login_ip"] = "1/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign in").click()
    expect(alert).to_have_text(
        re.compile(r"^Too many attempts\. Please try again in \d+ (seconds?|minutes?)\.$")
    )
    hosted.check(page, "sign-in-throttled")

    # a field the API refuses: its sentence beside it
    hosted.open(page, "/sign-up")
    page.get_by_label("E-mail address").fill("grace@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    password = page.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#signup-password-error")).to_contain_text(
        "The password is too short: use at least 12 characters."
    )
    expect(password).to_be_focused()
    hosted.check(page, "sign-up-refused")

    # a used or broken link
    hosted.open(page, "/reset-password?token=1:abc:def")
    page.get_by_label("New password", exact=True).fill("a long enough passphrase")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("#reset-form .alert")).to_contain_text("This link is not valid.")
    expect(page.get_by_role("link", name="Send me a new link")).to_be_visible()


def test_links_after_sign_in_stay_on_this_site(hosted: Any, browsing: Any, person: User) -> None:
    page = browsing.page()
    for attempt in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ]:
        hosted.open(page, f"/sign-in?next={attempt}")
        page.get_by_label("E-mail address").fill("ada@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(hosted.url + "/account")
        hosted.ready(page)
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/sign-in\?notice=signed_out$"))


def test_the_pages_a_signed_out_visitor_opens(hosted: Any, browsing: Any) -> None:
    page = browsing.page()
    hosted.open(page, "/verify-email/resend?email=ada@example.com")
    expect(page.get_by_label("E-mail address")).to_have_value("ada@example.com")
    hosted.check(page, "resend")
    page.get_by_role("button", name="Send link").click()
    expect(page.locator("#done")).to_be_focused()
    hosted.check(page, "resend-sent")

    hosted.open(page, "/invitations/accept?token=some-token")
    expect(page.locator("#anonymous")).to_be_visible()
    link = page.get_by_role("link", name="Sign in to accept")
    expect(link).to_have_attribute(
        "href", f"{hosted.url}/sign-in?next=%2Finvitations%2Faccept%3Ftoken%3Dsome-token"
    )
    hosted.check(page, "invitation-signed-out")

    hosted.open(page, "/verify-email")  # a link without its token
    expect(page.locator("#failed .alert")).to_contain_text("This link is not valid.")
    hosted.check(page, "verify-email-broken")


def test_the_pages_on_their_own_origin_use_the_iam_on_another(
    hosted: Any, iam_server: Any, browsing: Any, person: User, settings: Any
) -> None:
    """docs/operations.md, "On their own origin": the pages at account.example.test call the API
    at iam.example.test (one site): CORS with credentials, the CSRF token from the IAM's
    X-CSRFToken header (the page cannot read the IAM's cookie)."""
    pages = f"http://account.example.test:{iam_server.port}"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "account.example.test"]
    settings.IAM_UI_API_URL = iam_server.url
    connect = [*settings.SECURE_CSP["connect-src"], iam_server.url]
    settings.SECURE_CSP = {**settings.SECURE_CSP, "connect-src": connect}
    iam_server.allow_origins(pages)
    hosted.url = pages

    page = browsing.page()
    sign_in(page, hosted)
    assert page.evaluate("document.cookie") == ""  # nothing of the IAM's is readable here
    page.get_by_label("Name", exact=True).fill("Ada")
    page.locator("#profile-form").get_by_role("button", name="Save").click()  # PATCH + CSRF
    expect(page.locator("#profile-form .notice")).to_have_text("Saved.")
    assert User.objects.get(pk=person.pk).name == "Ada"
    page.get_by_role("button", name="Sign out").click()  # POST + CSRF
    expect(page).to_have_url(re.compile(r"/sign-in\?notice=signed_out$"))
    assert not DeviceSession.objects.filter(user=person, revoked_at__isnull=True).exists()


def test_restyled_pages_keep_their_contrast(
    hosted: Any, browsing: Any, person: User, settings: Any
) -> None:
    """Branding from the settings (name, logo, colours): still readable and axe-clean."""
    settings.IAM_PRODUCT_NAME = "Acme ID"
    settings.IAM_UI_LOGO_URL = "data:image/svg+xml," + LOGO
    settings.IAM_UI_COLOR_PRIMARY = "#7c2d12"
    settings.IAM_UI_COLOR_BACKGROUND = "#0f172a"  # dark: the header text turns white
    page = browsing.page()
    hosted.open(page, "/sign-in")
    expect(page).to_have_title("Sign in · Acme ID")
    expect(page.get_by_role("img", name="Acme ID")).to_be_visible()
    hosted.check(page, "sign-in-restyled")
    sign_in(page, hosted)
    hosted.check(page, "account-restyled")
    button = page.get_by_role("button", name="Save")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(124, 45, 18)"


LOGO = (
    "%3Csvg xmlns='http://www.w3.org/2000/svg' width='120' height='32'%3E"
    "%3Crect width='32' height='32' rx='6' fill='%23f97316'/%3E"
    "%3Ctext x='40' y='23' font-family='sans-serif' font-size='18' fill='white'%3E"
    "Acme ID%3C/text%3E"
    "%3C/svg%3E"
)


# A tab sees another tab's localStorage write a moment after it gets the lock the other released
# (Chromium hands the change over separately): here the change arrives 150 ms late.
LATE_STORAGE = """(due) => {
  const real = Storage.prototype.getItem;
  let late = true;
  addEventListener("storage", (event) => {
    if (!event.isTrusted || event.key !== "iam-ui:expires") return;
    event.stopImmediatePropagation();
    setTimeout(() => {
      late = false;
      dispatchEvent(new StorageEvent("storage", { key: event.key, newValue: event.newValue }));
    }, 150);
  }, { capture: true });
  Storage.prototype.getItem = function (key) {
    return late && key === "iam-ui:expires" ? due : real.call(this, key);
  };
}"""
CORE = """() => import(performance.getEntriesByType("resource").map((e) => e.name)
  .find((name) => /\\/iam\\/ui\\/core[.a-z0-9]*\\.js$/.test(name)))"""


def test_a_tab_that_waited_for_another_tabs_refresh_does_not_refresh_again(
    hosted: Any, browsing: Any, person: User
) -> None:
    seen, first, second = two_tabs(hosted, browsing)
    # the first tab holds the refresh lock, as while its refresh is on the wire
    first.evaluate(
        """() => { window.holding = navigator.locks.request("iam-ui:refresh",
             () => new Promise((release) => { window.release = release; })); }"""
    )
    due = '{"at": %d, "lifetime": 4000}'
    second.evaluate(LATE_STORAGE, due % (first.evaluate("Date.now()") + 1000))
    second.evaluate(f"() => {{ window.asked = ({CORE})().then((core) => core.refresh()); }}")
    second.wait_for_function(  # the second tab waits for the lock
        """async () => (await navigator.locks.query()).pending
             .some((lock) => lock.name === "iam-ui:refresh")"""
    )
    # the first tab's refresh arrives: it writes the new expiry, then lets go of the lock
    first.evaluate(
        """(expires) => { localStorage.setItem("iam-ui:expires", expires); window.release(); }""",
        due % (first.evaluate("Date.now()") + 4000),
    )
    assert second.evaluate("() => window.asked") is True
    second.wait_for_timeout(300)  # (a refresh it made would have been seen by now)
    assert seen == []  # the second tab took the first's result instead of refreshing again
