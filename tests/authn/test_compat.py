"""SimpleJWT-compatible endpoints: stock request/response shapes over the same sessions."""

from __future__ import annotations

import time

import pytest
import time_machine

from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from tests.conftest import PASSWORD, bearer, csrf_headers, me

pytestmark = pytest.mark.django_db


def test_obtain_refresh_verify_shapes(api, user, keys):
    pair = api.post("/api/token/", {"email": user.email, "password": PASSWORD}, format="json")
    assert pair.status_code == 200
    assert set(pair.json()) == {"access", "refresh"}
    assert DeviceSession.objects.get().transport == "body"

    rotated = api.post("/api/token/refresh/", {"refresh": pair.json()["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}

    verify = api.post("/api/token/verify/", {"token": rotated.json()["access"]}, format="json")
    assert verify.status_code == 200
    assert verify.json() == {}


def test_stock_username_field_works(api, user, keys):
    response = api.post("/api/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200


def test_reuse_detection_applies_to_compat_refresh(api, user, keys):
    pair = api.post(
        "/api/token/", {"email": user.email, "password": PASSWORD}, format="json"
    ).json()
    api.post("/api/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    with time_machine.travel(time.time() + 10, tick=False):
        reused = api.post("/api/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_reused"


def test_compat_obtain_is_throttled_like_login(api, user, keys):
    for _ in range(5):
        api.post("/api/token/", {"email": user.email, "password": "nope"}, format="json")
    assert (
        api.post(
            "/api/token/", {"email": user.email, "password": PASSWORD}, format="json"
        ).status_code
        == 429
    )


def test_compat_verify_rejects_garbage(api, keys):
    response = api.post("/api/token/verify/", {"token": "abc"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


# --- the plan's names and SimpleJWT's blacklist ---------------------------------------------


def obtain(api, path="/api/token/", **extra):
    """What a stock SimpleJWT client sends: the username field and the password, as JSON."""
    response = api.post(path, {"username": "alice", "password": PASSWORD}, format="json", **extra)
    assert response.status_code == 200, response.content
    return response.json()


def live(api, pair):
    return me(api, pair["access"]).status_code == 200


def test_api_token_auth_is_an_alias_of_the_obtain_endpoint(api, user, keys):
    pair = obtain(api, "/api-token-auth/")
    assert set(pair) == {"access", "refresh"}
    assert DeviceSession.objects.get().transport == "body"
    refreshed = api.post("/api/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 200


def test_api_token_auth_shares_the_login_limits(api, user, keys):
    for path in ["/api/token/", "/api-token-auth/"] * 2 + ["/api/auth/login/"]:
        api.post(path, {"email": user.email, "password": "nope"}, format="json")
    refused = api.post(
        "/api-token-auth/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert refused.status_code == 429


# SimpleJWT 5.5's TokenBlacklistView: {"refresh"} -> 200 {}; TokenError -> 401 token_not_valid.


def blacklist(api, refresh):
    return api.post("/api/token/blacklist/", {"refresh": refresh}, format="json")


def test_blacklist_answers_like_simplejwt_and_ends_the_session(api, user, keys):
    pair = obtain(api)
    response = blacklist(api, pair["refresh"])
    assert response.status_code == 200
    assert response.json() == {}
    assert not live(api, pair)  # the access token stops at once, not at its expiry
    again = api.post("/api/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 401
    assert AuditEvent.objects.filter(type="session:session:logout").count() == 1


def test_blacklisting_twice_is_refused_like_simplejwt(api, user, keys):
    pair = obtain(api)
    assert blacklist(api, pair["refresh"]).status_code == 200
    second = blacklist(api, pair["refresh"])
    assert second.status_code == 401
    assert second.json() == {"detail": "Token is blacklisted", "code": "token_not_valid"}


@pytest.mark.parametrize("kind", ["garbage", "access", "forged"])
def test_blacklist_refuses_what_is_not_a_refresh_token(api, user, keys, kind):
    pair = obtain(api)
    head, payload, _ = pair["refresh"].split(".")
    token = {
        "garbage": "not.a.token",
        "access": pair["access"],
        "forged": f"{head}.{payload}.{'A' * 342}",
    }[kind]
    response = blacklist(api, token)
    assert response.status_code == 401
    assert response.json() == {"detail": "Token is invalid or expired", "code": "token_not_valid"}
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert live(api, pair)


def test_blacklist_without_a_token_is_a_validation_error(api, keys):
    response = api.post("/api/token/blacklist/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["refresh"][0]["code"] == "required"


def test_blacklisting_a_rotated_away_token_is_reuse(api, user, keys):
    """The token was replaced twice: whoever presents it holds a stolen copy, or is the owner
    whose copy was stolen. The session ends either way and the theft is recorded."""
    first = obtain(api)
    second = api.post("/api/token/refresh/", {"refresh": first["refresh"]}, format="json").json()
    third = api.post("/api/token/refresh/", {"refresh": second["refresh"]}, format="json").json()
    assert blacklist(api, first["refresh"]).status_code == 200
    assert not live(api, third)
    assert AuditEvent.objects.filter(type="session:refresh:reuse_detected").exists()


# The plan's /api/token/revoke/ (authenticated): one of the caller's sessions, by refresh token.


def revoke(api, headers, refresh):
    return api.post("/api/token/revoke/", {"refresh": refresh}, format="json", **headers)


def test_revoke_ends_another_session_of_mine(api, user, keys):
    laptop, phone = obtain(api), obtain(api)
    response = revoke(api, bearer(laptop["access"]), phone["refresh"])
    assert response.status_code == 204
    assert not live(api, phone)
    assert live(api, laptop)
    assert "refresh_token" not in response.cookies  # not this session: its cookies stay


def test_revoke_of_my_own_session_clears_its_cookies(api, user, login):
    body = login(api, transport="body").json()
    response = revoke(api, bearer(body["access"]), body["refresh"])
    assert response.status_code == 204
    assert response.cookies["refresh_token"]["max-age"] == 0
    assert not live(api, body)


def test_revoke_needs_authentication(api, user, keys):
    pair = obtain(api)
    response = api.post("/api/token/revoke/", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 401
    assert live(api, pair)


def test_revoke_cannot_end_someone_elses_session_and_does_not_say_it_exists(api, user, keys):
    from iam.accounts.models import User

    User.objects.create_user(
        email="mallory@example.com", password=PASSWORD, username="mallory", email_verified=True
    )
    victim = obtain(api)
    mallory = api.post(
        "/api/token/", {"username": "mallory", "password": PASSWORD}, format="json"
    ).json()
    foreign = revoke(api, bearer(mallory["access"]), victim["refresh"])
    garbage = revoke(api, bearer(mallory["access"]), "not.a.token")
    expired_shape = revoke(api, bearer(mallory["access"]), victim["access"])  # not a refresh token
    assert foreign.status_code == garbage.status_code == expired_shape.status_code == 404
    assert foreign.json() == garbage.json() == expired_shape.json()
    assert foreign.json()["code"] == "not_found"
    assert live(api, victim)
    assert not DeviceSession.objects.filter(user=user, revoked_at__isnull=False).exists()


def test_revoke_is_idempotent_for_my_own_ended_session(api, user, keys):
    laptop, phone = obtain(api), obtain(api)
    assert revoke(api, bearer(laptop["access"]), phone["refresh"]).status_code == 204
    assert revoke(api, bearer(laptop["access"]), phone["refresh"]).status_code == 204


def test_revoke_with_a_rotated_away_token_is_recorded_as_reuse(api, user, keys):
    laptop, phone = obtain(api), obtain(api)
    newer = api.post("/api/token/refresh/", {"refresh": phone["refresh"]}, format="json").json()
    api.post("/api/token/refresh/", {"refresh": newer["refresh"]}, format="json")
    assert revoke(api, bearer(laptop["access"]), phone["refresh"]).status_code == 204
    assert AuditEvent.objects.filter(type="session:refresh:reuse_detected").exists()
    assert live(api, laptop)


def test_revoke_all_ends_every_session_of_mine(api, user, keys):
    laptop, phone = obtain(api), obtain(api)
    response = api.post("/api/token/revoke-all/", {}, format="json", **bearer(laptop["access"]))
    assert response.status_code == 200
    assert response.json() == {"revoked": 2}
    assert not live(api, laptop)
    assert not live(api, phone)
    assert api.post("/api/token/revoke-all/", {}, format="json").status_code == 401


def test_revoke_all_without_a_body_works_like_a_stock_client_sends_it(api, user, keys):
    pair = obtain(api)
    response = api.post("/api/token/revoke-all/", **bearer(pair["access"]))
    assert response.status_code == 200
    assert response.json() == {"revoked": 1}


# The plan's cookie refresh path: /api/auth/refresh/ under another name, with its CSRF rules.

ALIAS = "/api/accounts/auth/token/refresh/"


def cookie_sent_to(response, path):
    """Whether a browser would send the response's refresh cookie to ``path`` (RFC 6265 path
    matching, by the standard library's cookie jar): the test client sends every cookie."""
    import urllib.request
    from http.cookiejar import CookieJar

    class Headers:
        def __init__(self, values):
            self.values = values

        def get_all(self, name, default):
            return self.values if name.lower() == "set-cookie" else default

    class Reply:
        def __init__(self, values):
            self._headers = Headers(values)

        def info(self):
            return self._headers

    jar = CookieJar()
    cookies = [morsel.OutputString() for morsel in response.cookies.values()]
    jar.extract_cookies(
        Reply(cookies), urllib.request.Request("https://testserver/api/auth/login/")
    )
    request = urllib.request.Request(f"https://testserver{path}")
    jar.add_cookie_header(request)
    return "refresh_token=" in (request.get_header("Cookie") or "")


@pytest.fixture
def wide_cookie_path(settings):
    """What a deployment serving the plan's path to browsers sets (docs/migrating.md)."""
    settings.IAM_REFRESH_COOKIE_PATH = "/api/"


def browser_login(browser, user):
    response = browser.post(
        "/api/auth/login/",
        {"email": user.email, "password": PASSWORD, "transport": "cookie"},
        format="json",
        **csrf_headers(browser),
    )
    assert response.status_code == 200
    return response


def test_by_default_browsers_do_not_send_the_refresh_cookie_to_the_plans_path(browser, user, keys):
    login = browser_login(browser, user)
    assert cookie_sent_to(login, "/api/auth/refresh/")
    assert not cookie_sent_to(login, ALIAS)


def test_the_plans_cookie_refresh_path_rotates_with_csrf(browser, user, keys, wide_cookie_path):
    login = browser_login(browser, user)
    assert cookie_sent_to(login, ALIAS)
    old = browser.cookies["refresh_token"].value
    response = browser.post(
        ALIAS, {}, format="json", HTTP_ORIGIN="http://testserver", **csrf_headers(browser)
    )
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"token_type", "expires_in"}  # tokens only in cookies
    assert response.cookies["refresh_token"].value != old
    assert response.cookies["refresh_token"]["path"] == "/api/"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no CSRF token at all
        {"HTTP_X_CSRFTOKEN": "x" * 32},  # a made-up one
        {"HTTP_ORIGIN": "https://evil.example"},  # the right token from a foreign page
    ],
)
def test_the_plans_cookie_refresh_path_refuses_cross_site_requests(
    browser, user, keys, wide_cookie_path, headers
):
    browser_login(browser, user)
    before = DeviceSession.objects.get().refresh_jti
    if headers.get("HTTP_ORIGIN"):
        headers = {**csrf_headers(browser), **headers}
    response = browser.post(ALIAS, {}, format="json", **headers)
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert "refresh_token" not in response.cookies
    assert DeviceSession.objects.get().refresh_jti == before  # nothing rotated


def test_the_plans_cookie_refresh_path_takes_a_body_token_too(api, user, keys):
    pair = obtain(api)
    response = api.post(ALIAS, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200
    assert {"access", "refresh"} <= set(response.json())


# --- the schema: every compatibility endpoint is deprecated and names its replacement -------

COMPAT = {
    "/api/token/": "/api/auth/login/",
    "/api-token-auth/": "/api/auth/login/",
    "/api/token/refresh/": "/api/auth/refresh/",
    "/api/accounts/auth/token/refresh/": "/api/auth/refresh/",
    "/api/token/verify/": "/api/auth/verify/",
    "/api/token/blacklist/": "/api/auth/logout/",
    "/api/token/revoke/": "/api/auth/logout/",
    "/api/token/revoke-all/": "/api/auth/logout-all/",
}


def test_compatibility_endpoints_are_deprecated_in_the_schema(db):
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path, modern in COMPAT.items():
        operation = paths[path]["post"]
        assert operation["deprecated"] is True, path
        assert f"`POST {modern}`" in operation["description"], path
        assert "deprecated" not in paths[modern]["post"], modern
    deprecated = {p for p, ops in paths.items() for op in ops.values() if op.get("deprecated")}
    assert deprecated == set(COMPAT)


def test_compatibility_endpoints_are_documented(db):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    section = doc.split("### Compatibility endpoints", 1)[1].split("\n### ", 1)[0]
    for path, modern in COMPAT.items():
        assert f"`POST {path}`" in section, path
        assert modern in section
