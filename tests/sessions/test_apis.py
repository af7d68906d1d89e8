"""The device-sessions API: list my sessions, end one, end all; revocation is immediate."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.core.devices import _describe, device_describe
from iam.sessions.models import DeviceSession
from iam.sessions.selectors import SESSIONS_LIST_MAX
from tests.conftest import PASSWORD, bearer, csrf_headers

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
SESSIONS = "/api/auth/sessions/"
LOGOUT_ALL = "/api/auth/logout-all/"


def sign_in(api, login, agent: str, **extra) -> dict:
    response = login(api, HTTP_USER_AGENT=agent, **extra)
    assert response.status_code == 200, response.content
    return response.json()


def sid_of(access: str) -> str:
    import jwt

    return jwt.decode(access, options={"verify_signature": False})["sid"]


def assert_dead(api, tokens: dict) -> None:
    """Both halves of a body-transport pair are refused at once."""
    me = api.get("/api/auth/me/", **bearer(tokens["access"]))
    assert me.status_code == 401
    refresh = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert refresh.json()["code"] == "session_revoked"


def assert_alive(api, tokens: dict) -> None:
    assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200
    refresh = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 200


def cookie_tokens(browser) -> tuple[str, str]:
    return browser.cookies["access_token"].value, browser.cookies["refresh_token"].value


def assert_cookies_dead(browser, access: str, refresh: str) -> None:
    """Put the old cookies back (the response cleared them) and try both."""
    browser.cookies["access_token"] = access
    browser.cookies["refresh_token"] = refresh
    me = browser.get("/api/auth/me/")
    assert me.status_code == 401
    assert me.json()["code"] == "token_not_valid"
    again = browser.post("/api/auth/refresh/", {}, format="json", **csrf_headers(browser))
    assert again.status_code == 401
    assert again.json()["code"] == "session_revoked"


def assert_cookies_cleared(response) -> None:
    for name in ("access_token", "refresh_token"):
        assert response.cookies[name].value == ""
        assert response.cookies[name]["max-age"] == 0


# --- listing ------------------------------------------------------------------------------------


def test_list_shows_my_live_sessions_most_recently_used_first(api, user, login):
    with time_machine.travel(time.time() - 30, tick=False):
        firefox = sign_in(api, login, FIREFOX)
    with time_machine.travel(time.time() - 20, tick=False):
        chrome = sign_in(api, login, CHROME, REMOTE_ADDR="198.51.100.4")
    with time_machine.travel(time.time() - 10, tick=False):
        iphone = sign_in(api, login, IPHONE)
    # Firefox refreshing makes it the most recently used
    firefox = api.post(
        "/api/auth/refresh/",
        {"refresh": firefox["refresh"]},
        format="json",
        HTTP_USER_AGENT=FIREFOX,
    ).json()

    response = api.get(SESSIONS, **bearer(chrome["access"]))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    items = response.json()
    assert [item["id"] for item in items] == [
        sid_of(firefox["access"]),
        sid_of(iphone["access"]),
        sid_of(chrome["access"]),
    ]
    assert [item["current"] for item in items] == [False, False, True]
    first, _, mine = items
    assert first["user_agent"] == FIREFOX
    assert first["device"] == {
        "browser": "Firefox 128",
        "os": "Ubuntu",
        "device": "Other",
        "label": "Firefox 128 on Ubuntu",
    }
    assert items[1]["device"]["device"] == "iPhone"
    assert mine["ip"] == "198.51.100.4"
    assert mine["transport"] == "body"
    assert mine["amr"] == ["pwd"]
    assert set(mine) == {
        "id", "created_at", "last_used_at", "ip", "user_agent", "device", "transport", "amr",
        "current",
    }  # fmt: skip
    session = DeviceSession.objects.get(pk=mine["id"])
    assert mine["created_at"] == session.created_at.isoformat().replace("+00:00", "Z")


def test_list_leaves_out_ended_sessions_and_other_users(api, user, login):
    mine = sign_in(api, login, FIREFOX)
    logged_out = sign_in(api, login, CHROME)
    api.post("/api/auth/logout/", {"refresh": logged_out["refresh"]}, format="json")
    expired = sign_in(api, login, IPHONE)
    refresh_expired = sign_in(api, login, "curl/8.5.0")
    past = timezone.now() - timedelta(seconds=1)
    DeviceSession.objects.filter(pk=sid_of(expired["access"])).update(expires_at=past)
    DeviceSession.objects.filter(pk=sid_of(refresh_expired["access"])).update(
        refresh_expires_at=past
    )
    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=True)
    sign_in(api, login, FIREFOX, email="bob@example.com")

    items = api.get(SESSIONS, **bearer(mine["access"])).json()

    assert [item["id"] for item in items] == [sid_of(mine["access"])]
    assert DeviceSession.objects.count() == 5


def test_list_by_cookie(browser, user, login):
    assert login(browser, transport="cookie", HTTP_USER_AGENT=CHROME).status_code == 200
    response = browser.get(SESSIONS)
    assert response.status_code == 200
    (item,) = response.json()
    assert item["current"] is True
    assert item["transport"] == "cookie"
    assert item["device"]["label"] == "Chrome 126 on Windows 10"


def test_list_is_capped(api, tokens):
    own = DeviceSession.objects.get()
    now = timezone.now()
    DeviceSession.objects.bulk_create(
        DeviceSession(
            user_id=own.user_id,
            transport="body",
            amr=["pwd"],
            created_at=now - timedelta(hours=2),
            last_used_at=now - timedelta(hours=1, seconds=i),
            expires_at=now + timedelta(days=1),
            refresh_expires_at=now + timedelta(days=1),
            refresh_jti=uuid.uuid4().hex,
        )
        for i in range(SESSIONS_LIST_MAX)
    )
    items = api.get(SESSIONS, **bearer(tokens["access"])).json()
    assert len(items) == SESSIONS_LIST_MAX
    assert items[0]["id"] == str(own.pk)  # the most recently used are the ones shown
    oldest = DeviceSession.objects.order_by("last_used_at").first()
    assert str(oldest.pk) not in {item["id"] for item in items}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", SESSIONS),
        ("delete", f"{SESSIONS}3f1c2a1e-0000-4000-8000-000000000001/"),
        ("post", LOGOUT_ALL),
    ],
)
def test_anonymous_is_refused(api, keys, method, path):
    response = getattr(api, method)(path, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_revoked_access_token_cannot_list(api, tokens):
    api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    response = api.get(SESSIONS, **bearer(tokens["access"]))
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


# --- ending one session -------------------------------------------------------------------------


def test_delete_other_session_by_bearer(api, user, login):
    phone = sign_in(api, login, IPHONE)
    laptop = sign_in(api, login, FIREFOX)
    phone_sid = sid_of(phone["access"])

    response = api.delete(f"{SESSIONS}{phone_sid}/", **bearer(laptop["access"]))

    assert response.status_code == 204
    assert "access_token" not in response.cookies  # not this session: the cookies stay
    assert_dead(api, phone)
    assert_alive(api, laptop)
    session = DeviceSession.objects.get(pk=phone_sid)
    assert session.revoke_reason == "user"
    assert AuditEvent.objects.filter(
        type="session:session:revoked", session_id=phone_sid, user_id=user.pk
    ).exists()
    items = api.get(SESSIONS, **bearer(laptop["access"])).json()
    assert [item["id"] for item in items] == [sid_of(laptop["access"])]


def test_delete_current_session_by_bearer(api, tokens):
    sid = sid_of(tokens["access"])
    response = api.delete(f"{SESSIONS}{sid}/", **bearer(tokens["access"]))
    assert response.status_code == 204
    assert_cookies_cleared(response)
    assert_dead(api, tokens)


def test_delete_current_session_by_cookie_clears_cookies(browser, user, login):
    login(browser, transport="cookie")
    access, refresh = cookie_tokens(browser)
    sid = sid_of(access)

    response = browser.delete(f"{SESSIONS}{sid}/", **csrf_headers(browser))

    assert response.status_code == 204
    assert_cookies_cleared(response)
    assert DeviceSession.objects.get(pk=sid).revoked_at is not None
    assert_cookies_dead(browser, access, refresh)


def test_delete_other_session_by_cookie(browser, api, user, login):
    body = sign_in(api, login, IPHONE)
    login(browser, transport="cookie")

    response = browser.delete(f"{SESSIONS}{sid_of(body['access'])}/", **csrf_headers(browser))

    assert response.status_code == 204
    assert "access_token" not in response.cookies
    assert_dead(api, body)
    assert browser.get("/api/auth/me/").status_code == 200


def test_delete_by_cookie_needs_csrf(browser, user, login):
    login(browser, transport="cookie")
    sid = sid_of(browser.cookies["access_token"].value)

    response = browser.delete(f"{SESSIONS}{sid}/")

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert DeviceSession.objects.get(pk=sid).revoked_at is None
    assert browser.get("/api/auth/me/").status_code == 200


@pytest.mark.parametrize(
    "session_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "%00", "unknown"]
)
def test_delete_unknown_or_malformed_id_is_404(api, tokens, session_id):
    if session_id == "unknown":
        session_id = str(uuid.uuid4())
    response = api.delete(f"{SESSIONS}{session_id}/", **bearer(tokens["access"]))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert DeviceSession.objects.get().revoked_at is None


def test_delete_revoked_or_expired_session_is_404(api, user, login):
    mine = sign_in(api, login, FIREFOX)
    gone = sign_in(api, login, CHROME)
    expired = sign_in(api, login, IPHONE)
    gone_sid, expired_sid = sid_of(gone["access"]), sid_of(expired["access"])
    assert api.delete(f"{SESSIONS}{gone_sid}/", **bearer(mine["access"])).status_code == 204
    DeviceSession.objects.filter(pk=expired_sid).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    for sid in (gone_sid, expired_sid):
        response = api.delete(f"{SESSIONS}{sid}/", **bearer(mine["access"]))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert AuditEvent.objects.filter(type="session:session:revoked").count() == 1
    assert DeviceSession.objects.get(pk=expired_sid).revoked_at is None


def test_another_user_cannot_see_or_end_my_session(api, user, login):
    """Attack: Bob knows Alice's session id. He cannot tell it from a random id, nor end it."""
    alice = sign_in(api, login, FIREFOX)
    alice_sid = sid_of(alice["access"])
    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=True)
    bob = sign_in(api, login, CHROME, email="bob@example.com")

    listed = api.get(SESSIONS, **bearer(bob["access"])).json()
    assert [item["id"] for item in listed] == [sid_of(bob["access"])]

    stolen = api.delete(f"{SESSIONS}{alice_sid}/", **bearer(bob["access"]))
    random = api.delete(f"{SESSIONS}{uuid.uuid4()}/", **bearer(bob["access"]))
    assert stolen.status_code == random.status_code == 404
    assert stolen.json() == random.json()

    assert DeviceSession.objects.get(pk=alice_sid).revoked_at is None
    assert not AuditEvent.objects.filter(type="session:session:revoked").exists()
    assert_alive(api, alice)
    # and logout-all only ever touches the caller's own sessions
    all_bob = api.post(LOGOUT_ALL, {}, format="json", **bearer(bob["access"]))
    assert all_bob.json() == {"revoked": 1}
    assert DeviceSession.objects.get(pk=alice_sid).revoked_at is None


def test_get_on_a_session_is_not_allowed(api, tokens):
    response = api.get(f"{SESSIONS}{sid_of(tokens['access'])}/", **bearer(tokens["access"]))
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


# --- ending all sessions ------------------------------------------------------------------------


def test_logout_all_by_bearer(api, user, login):
    one, two, three = (sign_in(api, login, agent) for agent in (FIREFOX, CHROME, IPHONE))

    response = api.post(LOGOUT_ALL, {}, format="json", **bearer(two["access"]))

    assert response.status_code == 200
    assert response.json() == {"revoked": 3}
    assert "no-store" in response["Cache-Control"]
    assert_cookies_cleared(response)
    for pair in (one, two, three):
        assert_dead(api, pair)
    events = AuditEvent.objects.filter(type="session:session:revoked", user_id=user.pk)
    assert events.count() == 3
    assert {event.data["reason"] for event in events} == {"user"}


def test_logout_all_keeping_the_current_session(api, user, login):
    one, two, three = (sign_in(api, login, agent) for agent in (FIREFOX, CHROME, IPHONE))

    response = api.post(LOGOUT_ALL, {"keep_current": True}, format="json", **bearer(two["access"]))

    assert response.status_code == 200
    assert response.json() == {"revoked": 2}
    assert "access_token" not in response.cookies
    assert_dead(api, one)
    assert_dead(api, three)
    assert_alive(api, two)
    again = api.post(LOGOUT_ALL, {"keep_current": True}, format="json", **bearer(two["access"]))
    assert again.json() == {"revoked": 0}


def test_logout_all_by_cookie(browser, api, user, login):
    body = sign_in(api, login, IPHONE)
    login(browser, transport="cookie")
    access, refresh = cookie_tokens(browser)

    response = browser.post(LOGOUT_ALL, {}, format="json", **csrf_headers(browser))

    assert response.status_code == 200
    assert response.json() == {"revoked": 2}
    assert_cookies_cleared(response)
    assert_dead(api, body)
    assert_cookies_dead(browser, access, refresh)


def test_logout_all_by_cookie_keeping_the_current_session(browser, api, user, login):
    body = sign_in(api, login, IPHONE)
    login(browser, transport="cookie")

    response = browser.post(
        LOGOUT_ALL, {"keep_current": True}, format="json", **csrf_headers(browser)
    )

    assert response.status_code == 200
    assert response.json() == {"revoked": 1}
    assert "access_token" not in response.cookies
    assert_dead(api, body)
    assert browser.get("/api/auth/me/").status_code == 200
    again = browser.post("/api/auth/refresh/", {}, format="json", **csrf_headers(browser))
    assert again.status_code == 200


def test_logout_all_by_cookie_needs_csrf(browser, user, login):
    login(browser, transport="cookie")
    response = browser.post(LOGOUT_ALL, {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert DeviceSession.objects.get().revoked_at is None
    # nor from another site, even with the token
    evil = {"HTTP_ORIGIN": "https://evil.example", "secure": True, **csrf_headers(browser)}
    assert browser.post(LOGOUT_ALL, {}, format="json", **evil).status_code == 403
    assert DeviceSession.objects.get().revoked_at is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"keep_current": "yes please"}, "invalid"),
        ({"keep_current": "true"}, "invalid"),
        ({"keep_current": 1}, "invalid"),
        ({"keep_current": None}, "invalid"),
        ([True], "invalid"),
    ],
)
def test_logout_all_rejects_bad_input(api, tokens, body, code):
    response = api.post(LOGOUT_ALL, body, format="json", **bearer(tokens["access"]))
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert DeviceSession.objects.get().revoked_at is None


def test_logout_all_rejects_what_is_not_json(api, tokens):
    auth = bearer(tokens["access"])
    form = api.post(
        LOGOUT_ALL, "keep_current=1", content_type="application/x-www-form-urlencoded", **auth
    )
    assert form.status_code == 415
    assert form.json()["code"] == "unsupported_media_type"
    broken = api.post(LOGOUT_ALL, "{not json", content_type="application/json", **auth)
    assert broken.status_code == 400
    assert broken.json()["code"] == "parse_error"
    assert DeviceSession.objects.get().revoked_at is None


def test_logout_all_without_a_body_ends_everything(api, tokens):
    response = api.post(LOGOUT_ALL, **bearer(tokens["access"]))
    assert response.status_code == 200
    assert response.json() == {"revoked": 1}
    assert_dead(api, tokens)


def test_schema_describes_the_sessions_api(api, db):
    schema = api.get("/api/schema/?format=json").json()
    assert {"get"} <= set(schema["paths"]["/api/auth/sessions/"])
    assert "delete" in schema["paths"]["/api/auth/sessions/{session_id}/"]
    assert "post" in schema["paths"]["/api/auth/logout-all/"]
    assert set(schema["components"]["schemas"]["SessionDevice"]["properties"]) == {
        "browser", "os", "device", "label",
    }  # fmt: skip


# --- device_describe ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (FIREFOX, ("Firefox 128", "Ubuntu", "Other", "Firefox 128 on Ubuntu")),
        (CHROME, ("Chrome 126", "Windows 10", "Other", "Chrome 126 on Windows 10")),
        (IPHONE, ("Mobile Safari 17", "iOS 17.5", "iPhone", "Mobile Safari 17 on iOS 17.5")),
        ("curl/8.5.0", ("curl 8", "Other", "Other", "curl 8")),
        ("", ("Other", "Other", "Other", "Unknown device")),
        ("\x00<script>", ("Other", "Other", "Other", "Unknown device")),
    ],
)
def test_device_describe(agent, expected):
    browser, os, device, label = expected
    assert device_describe(agent) == {
        "browser": browser,
        "os": os,
        "device": device,
        "label": label,
    }


def test_device_describe_is_cached_and_returns_a_fresh_dict():
    _describe.cache_clear()
    first = device_describe(FIREFOX)
    first["label"] = "tampered"
    second = device_describe(FIREFOX)
    assert second["label"] == "Firefox 128 on Ubuntu"
    info = _describe.cache_info()
    assert (info.hits, info.misses) == (1, 1)
