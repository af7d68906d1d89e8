"""Review of the abuse-protection hardening (issue 7): attacks on rate limits, lockout, the
security log, notices and the HTTP surface.

The tests marked "found in review" failed at review time (their docstring says what was wrong;
the assertion is the correct behaviour, which holds now); the others pin attacks that were
defended and are not covered elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client, RequestFactory
from django.utils import timezone

from iam.accounts.models import User
from iam.accounts.throttles import LoginIPThrottle
from iam.core.ratelimit import ratelimit_cache
from tests.authn.conftest import password_login as _login
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
OPERATOR_BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5"


def _rates(settings: Any, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def _bearer(access: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


# --- security log ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["o=0&r=0&p=garbage", "o=0&r=1&p=2024-13-45", "p=%00", "o=0&r=0&p=" + "9" * 40]
)
def test_a_tampered_security_log_cursor_is_a_404_not_a_500(
    api: Any, tokens: dict, raw: str
) -> None:
    """Found in review, fixed since:
    the cursor is base64 of ``o=&r=&p=``; DRF puts ``p`` straight into
    ``created_at__lt=...``, and a ``p`` that is not a datetime raises Django's ValidationError
    from the ORM: a 500 (logged as an error) for any signed-in user who edits the cursor."""
    api.raise_request_exception = False
    cursor = base64.b64encode(raw.encode()).decode()
    response = api.get(f"/api/auth/security-log/?cursor={cursor}", **_bearer(tokens["access"]))
    assert response.status_code in (400, 404), response.content
    assert response.json()["code"] in ("not_found", "invalid")


def test_operator_actions_do_not_show_the_operators_ip_and_browser_to_the_user(
    api: Any, client: Any, user: User, tokens: dict
) -> None:
    """Found in review, fixed since:
    the security log hides operator data from ``details`` ("operator ids ... stay for
    operators"), but the admin actions *Unlock sign-in* and *Reset two-factor* record the
    user's events with the operator's ``client_info(request)``: the user sees the operator's
    IP address, raw user agent and device label as if they were their own."""
    staff = User.objects.create_superuser(email="ops@example.com", password=PASSWORD)
    client.force_login(staff)
    operator_ip = "10.20.30.40"
    for action in ("unlock_login", "reset_mfa"):
        client.post(
            "/admin/iam_accounts/user/",
            {"action": action, "_selected_action": [str(user.pk)]},
            REMOTE_ADDR=operator_ip,
            HTTP_USER_AGENT=OPERATOR_BROWSER,
        )
    events = api.get("/api/auth/security-log/", **_bearer(tokens["access"])).json()["results"]
    assert {"user:login:unlocked", "user:mfa:reset"} <= {e["event"] for e in events}
    for event in events:
        assert event["ip"] != operator_ip, event
        assert event["user_agent"] != OPERATOR_BROWSER, event


# --- refresh limits ----------------------------------------------------------------------------


def test_whitespace_around_a_refresh_token_does_not_dodge_the_session_limit(
    api: Any, tokens: dict
) -> None:
    """Found in review, fixed since:
    ``RefreshSessionThrottle`` decodes the raw body value, the view the serializer's
    *trimmed* value. ``" <token> "`` fails to decode in the throttle (no key: not limited; the
    view has no anonymous limit either) and then works in the view: unlimited refreshes."""
    refresh = tokens["refresh"]
    rotated = 0
    for _ in range(12):
        response = api.post("/api/auth/refresh/", {"refresh": f" {refresh} "}, format="json")
        if response.status_code != 200:
            break
        rotated += 1
        refresh = response.json()["refresh"]
    assert rotated <= 10, f"{rotated} refreshes of one session within a minute"


@pytest.mark.parametrize("path", ["/api/auth/refresh/", "/api/token/refresh/"])
def test_unusable_refresh_tokens_count_against_the_anonymous_limit(
    api: Any, keys: Any, settings: Any, path: str
) -> None:
    """Found in review: the refresh views gave no throttle key to a token that does not verify,
    so garbage, expired or forged refresh tokens were never limited (unlimited signature checks
    per IP). Now they count per client IP at the refresh rate."""
    _rates(settings, refresh_session="3/min")
    statuses = [
        api.post(path, {"refresh": "not.a.token"}, format="json").status_code for _ in range(5)
    ]
    assert statuses[-1] == 429, statuses


# --- login limits and lockout ------------------------------------------------------------------


def test_concurrent_logins_cannot_all_pass_the_per_ip_limit(db: Any) -> None:
    """Found in review, fixed since:
    the login (and mail, password-check, OAuth) limits use DRF's SimpleRateThrottle: read
    the history list, decide, write it back. Requests that arrive together all read the same
    history and all pass, so a parallel burst gets far more than 5 password guesses per minute
    before any is recorded (the lockout counts only after the hash, so it does not stop the
    burst either). Here ten simultaneous requests meet at the read; at most 5 may pass."""
    parallel = 10
    barrier = threading.Barrier(parallel, timeout=2)

    class Simultaneous:
        """The rate-limit cache, with every request's read happening at the same moment."""

        def __getattr__(self, name: str) -> Any:
            return getattr(ratelimit_cache, name)

        def get(self, *args: Any, **kwargs: Any) -> Any:
            value = ratelimit_cache.get(*args, **kwargs)
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            return value

    allowed: list[bool] = []

    def attempt() -> None:
        throttle = LoginIPThrottle()
        throttle.cache = Simultaneous()
        request = RequestFactory().post("/api/auth/login/", REMOTE_ADDR="203.0.113.9")
        allowed.append(throttle.allow_request(request, None))

    threads = [threading.Thread(target=attempt) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) <= 5, f"{sum(allowed)} of {parallel} simultaneous guesses passed"


def test_a_flood_of_new_cache_keys_does_not_evict_a_lock(
    api: Any, user: User, keys: Any, settings: Any
) -> None:
    """BUG (default setup, no REDIS_URL): counters live in the default LocMemCache, which keeps
    300 entries (Django's default MAX_ENTRIES) and evicts the least recently used. Every login
    with a new identifier adds a key (``LoginAccountThrottle`` writes even when another throttle
    or the lock refuses), so ~300 junk requests evict the victim's lock and every other counter:
    guessing resumes at once. (With Redis down the fallback holds 100,000 keys: same attack,
    bigger flood.)"""
    _rates(settings, login_ip="100000/min", login_account="100000/min", anon="100000/min")
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(6):  # the 6th failure starts a 30 s delay
            _login(api, REMOTE_ADDR="203.0.113.1")
        assert _login(api, REMOTE_ADDR="192.0.2.1").status_code == 429
        for i in range(400):
            _login(api, email=f"nobody{i}@example.org", REMOTE_ADDR="203.0.113.2")
        guess = _login(api, REMOTE_ADDR="192.0.2.2")
    assert guess.status_code == 429, "the lock was evicted: the password was checked again"


def test_ipv6_clients_in_one_64_share_the_login_limit(api: Any, keys: Any) -> None:
    """Found in review, fixed since:
    per-IP limits and delays key on the full IPv6 address. A single IPv6 client holds
    at least a /64 (2**64 addresses) and picks a fresh one per request, so the per-IP login
    limit (and the per-IP lockout) never applies to it. IPv6 should count per /64."""
    statuses = [
        _login(api, email=f"x{i}@example.org", REMOTE_ADDR=f"2001:db8:1:2::{i:x}").status_code
        for i in range(1, 7)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429, statuses


def test_a_lowered_rate_still_answers_429_with_retry_after(
    api: Any, keys: Any, settings: Any
) -> None:
    """Found in review, fixed since:
    the sliding-window throttles return ``wait() is None`` when the stored history is
    longer than the current rate (after an operator lowers a rate, the histories stay in
    Redis; also after the race above); DRF then sends the 429 without ``Retry-After``,
    against the contract (429 with Retry-After)."""
    _rates(settings, login_ip="10/min", login_account="1000/min", anon="1000/min")
    for i in range(8):
        _login(api, email=f"n{i}@example.org")
    _rates(settings, login_ip="5/min", login_account="1000/min", anon="1000/min")
    response = _login(api, email="z@example.org")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) >= 1


def test_a_dotless_i_does_not_make_a_second_mail_bucket_for_one_address(
    api: Any, keys: Any, outbox: list
) -> None:
    """Found in review, fixed since: ``AccountMailThrottle`` keyed on ``casefold()`` of the typed
    address while the account lookup was ``email__iexact`` (``UPPER()`` in PostgreSQL, which maps
    the dotless i, U+0131, to ``I``): ``ian@\u0131bm.test`` reached the account ``ian@ibm.test``
    but counted in another bucket. Now the lookup, the constraint and every limit compare one
    key (``iam.core.identifiers``), on every database: the dotless i is another address (Unicode
    folding keeps it), which reaches no account and mails nobody."""
    User.objects.create_user(email="ian@ibm.test", password=PASSWORD, email_verified=True)
    statuses = [
        api.post("/api/auth/password/reset/", {"email": email}, format="json").status_code
        for email in ["ian@ibm.test"] * 3 + ["ian@\u0131bm.test"]
    ]
    assert statuses == [202, 202, 202, 202]
    assert [m.to for m in outbox] == [["ian@ibm.test"]] * 3


# --- notices -----------------------------------------------------------------------------------


def test_anonymous_reset_requests_cannot_silence_the_security_notices(
    api: Any, user: User, keys: Any, outbox: list
) -> None:
    """Found in review, fixed since:
    security notices share the per-address mail budget (10/hour) with mails anyone can
    trigger. Password-reset requests from four IPs (3 each, the per-IP limit) use it up, and
    the notice of the sign-in that follows (or of a password or MFA change) is dropped
    silently: an attacker with the password signs in unannounced."""
    _login(api, password=PASSWORD, HTTP_USER_AGENT="Firefox/128.0", REMOTE_ADDR="198.51.100.4")
    for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"):
        for _ in range(3):
            response = api.post(
                "/api/auth/password/reset/", {"email": user.email}, format="json", REMOTE_ADDR=ip
            )
            assert response.status_code == 202
    outbox.clear()
    signed_in = _login(
        api, password=PASSWORD, HTTP_USER_AGENT="curl/8.5.0", REMOTE_ADDR="192.0.2.66"
    )
    assert signed_in.status_code == 200
    assert [m for m in outbox if "new sign-in" in m.subject], "the new-device notice was dropped"


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_are_not_redirected_to_https_like_the_other_probes(db: Any, settings: Any) -> None:
    """Found in review: with ``SECURE_SSL_REDIRECT`` (on by default with DEBUG off) only
    ``healthz`` and ``readyz`` were exempt; a scraper on the allowlist (plain HTTP to the worker)
    got a 301 to https on a port that speaks no TLS."""
    settings.SECURE_SSL_REDIRECT = True
    settings.IAM_METRICS_ALLOWED_IPS = ["127.0.0.1/32"]
    client = Client(REMOTE_ADDR="127.0.0.1")
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_a_space_in_the_metrics_allowlist_is_not_a_500_for_everyone(db: Any, settings: Any) -> None:
    """Found in review: ``IAM_METRICS_ALLOWED_IPS=127.0.0.1/32, 10.0.0.0/8`` (django-environ
    keeps the space) made ``ip_network(" 10.0.0.0/8")`` raise on every request not from the
    first network: a 500 for the scraper and every stranger. Entries are stripped now, and one
    that does not parse is a startup error (``iam.E010``)."""
    settings.IAM_METRICS_ALLOWED_IPS = ["127.0.0.1/32", " 10.0.0.0/8"]
    scraper = Client(raise_request_exception=False, REMOTE_ADDR="10.1.2.3")
    stranger = Client(raise_request_exception=False, REMOTE_ADDR="203.0.113.4")
    assert scraper.get("/metrics").status_code == 200
    assert stranger.get("/metrics").status_code == 404


# --- defended (not covered elsewhere) ------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "https://app.example.com.evil.test",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://evil.test/https://app.example.com",
    ],
)
def test_cors_preflight_from_null_and_look_alike_origins_is_refused(
    settings: Any, db: Any, origin: str
) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    response = Client().options(
        "/api/auth/refresh/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/api/oauth/token/", "application/x-www-form-urlencoded", None),
        ("/api/oauth/introspect/", "application/x-www-form-urlencoded", None),
        ("/admin/login/", "application/x-www-form-urlencoded", None),
        ("/admin/login/", "multipart/form-data; boundary=xx", "multipart"),
        ("/api/auth/logout/", "application/json", "json"),
    ],
)
def test_oversized_bodies_of_every_content_type_are_a_413(
    api: Any, keys: Any, settings: Any, path: str, content_type: str, body: str | None
) -> None:
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    if body == "multipart":
        data = f'--xx\r\nContent-Disposition: form-data; name="username"\r\n\r\n{big}\r\n--xx--\r\n'
    elif body == "json":
        data = json.dumps({"refresh": big})
    else:
        data = urlencode({"grant_type": "client_credentials", "client_secret": big})
    response = api.post(path, data, content_type=content_type)
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


@pytest.mark.parametrize(
    "incoming", ["a" * 129, "abc\r\nSet-Cookie: x=1", "ok-id-1234\x00", "ü" * 20, "short"]
)
def test_request_ids_from_a_trusted_proxy_are_only_taken_when_sane(
    api: Any, db: Any, settings: Any, incoming: str
) -> None:
    settings.IAM_TRUSTED_PROXY_COUNT = 1
    response = api.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32
