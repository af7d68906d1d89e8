"""Service clients: client-credentials tokens, introspection and revocation (RFC 6749/7662/7009)."""

from __future__ import annotations

import base64
from io import StringIO

import jwt
import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from iam.audit.models import AuditEvent
from iam.oauth.models import ServiceClient
from iam.oauth.services import service_client_create
from iam.sessions.models import DeviceSession
from iam.tenancy.models import Tenant
from tests.conftest import PASSWORD
from tests.tokens.test_contract import check, claim_table

pytestmark = pytest.mark.django_db

TOKEN = "/api/oauth/token/"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def billing(keys):
    client, secret = service_client_create(
        name="billing", audiences=["billing-api", "ledger-api"], scopes=["invoices:read", "x:y"]
    )
    return client, secret


@pytest.fixture
def gateway(keys):
    return service_client_create(name="gw", audiences=["edge"], can_introspect=True)


def basic(client_id, secret):
    raw = f"{client_id}:{secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


def post(api, url, data, **extra):
    from urllib.parse import urlencode

    return api.post(url, urlencode(data, doseq=True), content_type=FORM, **extra)


def claims_of(raw):
    return jwt.decode(raw, options={"verify_signature": False})


def test_client_credentials_by_basic_auth(api, billing):
    client, secret = billing
    response = post(
        api,
        TOKEN,
        {"grant_type": "client_credentials", "audience": "billing-api", "scope": "invoices:read"},
        **basic(client.client_id, secret),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer",
        900,
        "invoices:read",
    )
    assert response["Cache-Control"] == "no-store"
    token = claims_of(body["access_token"])
    assert token["aud"] == "billing-api"
    assert token["sub"] == token["client_id"] == client.client_id
    assert token["scope"] == "invoices:read"
    assert "sid" not in token
    assert "refresh" not in body
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    assert AuditEvent.objects.filter(type="client:token:issued").exists()


def test_service_tokens_match_the_contract(api, billing):
    client, secret = billing
    body = post(
        api,
        TOKEN,
        {"grant_type": "client_credentials", "audience": "billing-api"},
        **basic(client.client_id, secret),
    ).json()
    claims = check(body["access_token"], claim_table("Service token claims"))
    assert claims["scope"] == "invoices:read x:y"  # all allowed scopes when none are asked


def test_form_fields_authenticate_too_and_tenant_clients_carry_the_tenant(api, keys):
    acme = Tenant.objects.create(name="Acme", slug="acme")
    client, secret = service_client_create(name="t", audiences=["a"], tenant=acme)
    body = post(
        api,
        TOKEN,
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": secret,
        },
    ).json()
    token = claims_of(body["access_token"])
    assert token["aud"] == "a"  # the only audience is the default
    assert (token["tid"], token["tenant"]) == (str(acme.pk), "acme")


def test_audience_and_resource_must_name_the_same_target(api, billing):
    """RFC 8707's ``resource`` is a synonym of ``audience``; both given and different was
    resolved silently in favour of ``audience`` (both allowed to the client here)."""
    client, secret = billing
    auth = basic(client.client_id, secret)
    grant = {"grant_type": "client_credentials"}
    both = post(api, TOKEN, {**grant, "audience": "billing-api", "resource": "ledger-api"}, **auth)
    assert both.status_code == 400
    assert both.json()["error"] == "invalid_request"
    assert "resource" in both.json()["error_description"]
    for form in (
        {"audience": "ledger-api", "resource": "ledger-api"},
        {"resource": "ledger-api"},
        {"audience": "ledger-api"},
    ):
        issued = post(api, TOKEN, {**grant, **form}, **auth)
        assert issued.status_code == 200, (form, issued.content)
        assert claims_of(issued.json()["access_token"])["aud"] == "ledger-api"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "invalid_request"),  # two audiences: say which
        ({"grant_type": "client_credentials", "audience": "iam-test-api"}, "invalid_target"),
        (
            {"grant_type": "client_credentials", "audience": "billing-api", "scope": "admin"},
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "audience": "billing-api", "scope": "a\\b \x01"},
            "invalid_request",
        ),
        ({"grant_type": ["client_credentials", "client_credentials"]}, "invalid_request"),
    ],
)
def test_bad_requests_get_rfc_errors(api, billing, data, error):
    client, secret = billing
    response = post(api, TOKEN, data, **basic(client.client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


@pytest.mark.parametrize(
    "credentials",
    [
        lambda c, s: basic(c, "wrong"),
        lambda c, s: basic("svc_nope", s),
        lambda c, s: {"HTTP_AUTHORIZATION": "Basic !!!notbase64"},
        lambda c, s: {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"no-colon").decode()},
        lambda c, s: {"HTTP_AUTHORIZATION": "Bearer abc"},
        lambda c, s: {},
    ],
)
def test_bad_client_credentials_are_invalid_client(api, billing, credentials):
    client, secret = billing
    response = post(
        api,
        TOKEN,
        {"grant_type": "client_credentials", "audience": "billing-api"},
        **credentials(client.client_id, secret),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_basic_failure_says_www_authenticate_basic(api, billing):
    client, _ = billing
    response = post(
        api, TOKEN, {"grant_type": "client_credentials"}, **basic(client.client_id, "x")
    )
    assert response["WWW-Authenticate"].startswith("Basic")


def test_a_deactivated_client_gets_nothing_and_its_tokens_go_inactive(api, billing, gateway):
    client, secret = billing
    body = post(
        api,
        TOKEN,
        {"grant_type": "client_credentials", "audience": "billing-api"},
        **basic(client.client_id, secret),
    ).json()
    gw, gw_secret = gateway
    introspect = {"token": body["access_token"]}
    assert post(api, "/api/oauth/introspect/", introspect, **basic(gw.client_id, gw_secret)).json()[
        "active"
    ]
    ServiceClient.objects.filter(pk=client.pk).update(is_active=False)
    after = post(api, "/api/oauth/introspect/", introspect, **basic(gw.client_id, gw_secret))
    assert after.json() == {"active": False}
    again = post(
        api,
        TOKEN,
        {"grant_type": "client_credentials", "audience": "billing-api"},
        **basic(client.client_id, secret),
    )
    assert again.status_code == 401


def test_service_tokens_are_not_accepted_by_the_iams_user_apis(api, keys):
    client, secret = service_client_create(name="sneaky", audiences=["iam-test-api"])
    body = post(
        api, TOKEN, {"grant_type": "client_credentials"}, **basic(client.client_id, secret)
    ).json()
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert me.status_code == 401


def test_introspection_of_user_tokens_follows_the_session(api, user, tokens, gateway):
    gw, secret = gateway
    auth = basic(gw.client_id, secret)
    active = post(api, "/api/oauth/introspect/", {"token": tokens["access"]}, **auth).json()
    assert active["active"] is True
    assert active["sub"] == str(user.pk)
    assert active["username"] == "alice@example.com"
    assert active["token_type"] == "access_token"
    refresh = post(
        api,
        "/api/oauth/introspect/",
        {"token": tokens["refresh"], "token_type_hint": "refresh_token"},
        **auth,
    ).json()
    assert refresh["active"] is True
    assert refresh["token_type"] == "refresh_token"
    # revoke the session by its refresh token: both go inactive at once
    revoked = post(api, "/api/oauth/revoke/", {"token": tokens["refresh"]}, **auth)
    assert revoked.status_code == 200
    for token in (tokens["access"], tokens["refresh"]):
        body = post(api, "/api/oauth/introspect/", {"token": token}, **auth).json()
        assert body == {"active": False}
    assert (
        api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}").status_code == 401
    )


def test_a_rotated_away_refresh_token_is_inactive(api, user, tokens, gateway):
    gw, secret = gateway
    api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    body = post(
        api, "/api/oauth/introspect/", {"token": tokens["refresh"]}, **basic(gw.client_id, secret)
    )
    assert body.json() == {"active": False}


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 9000])
def test_introspection_and_revocation_of_garbage(api, gateway, token):
    gw, secret = gateway
    auth = basic(gw.client_id, secret)
    assert post(api, "/api/oauth/introspect/", {"token": token}, **auth).json() == {"active": False}
    revoked = post(api, "/api/oauth/revoke/", {"token": token}, **auth)
    assert (revoked.status_code, revoked.json()) == (200, {})  # RFC 7009 §2.2, docs/api.md


def test_a_client_without_can_introspect_cannot_revoke(api, user, tokens, billing):
    """The review: without this check any service client could end any user's session."""
    client, secret = billing
    for token in (tokens["refresh"], tokens["access"]):
        refused = post(
            api, "/api/oauth/revoke/", {"token": token}, **basic(client.client_id, secret)
        )
        assert refused.status_code == 403
        assert refused.json()["error"] == "unauthorized_client"
    assert DeviceSession.objects.get().revoked_at is None
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert me.status_code == 200


def test_revocation_by_a_user_access_token_ends_its_session(api, user, tokens, login, gateway):
    gw, secret = gateway
    other = login(api).json()  # another session of the same user lives on
    revoked = post(
        api, "/api/oauth/revoke/", {"token": tokens["access"]}, **basic(gw.client_id, secret)
    )
    assert (revoked.status_code, revoked.json()) == (200, {})
    session = DeviceSession.objects.get(pk=claims_of(tokens["access"])["sid"])
    assert session.revoke_reason == "client_revoked"
    assert (
        api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}").status_code == 401
    )
    refresh = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert (
        api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {other['access']}").status_code == 200
    )
    event = AuditEvent.objects.get(type="session:session:revoked", session_id=session.pk)
    assert event.data == {"reason": "oauth_revoke", "client_id": gw.client_id}


def test_revocation_checks_that_the_refresh_token_is_the_sessions_users(api, user, tokens, gateway):
    """The review: revocation did not check ``sub``. A refresh token (validly signed) naming
    another user's session must not end it: the session and the token's user must agree."""
    from iam.accounts.models import User
    from iam.tokens.tokens import AccessToken, RefreshToken

    victim = RefreshToken(tokens["refresh"])
    mallory = User.objects.create_user(email="mallory@example.com", password="x" * 20)
    forged = RefreshToken()
    for name in ("sid", "jti"):
        forged[name] = victim[name]
    forged["sub"] = str(mallory.pk)  # another user, the victim's session
    gw, secret = gateway
    auth = basic(gw.client_id, secret)
    assert post(api, "/api/oauth/revoke/", {"token": str(forged)}, **auth).status_code == 200
    assert DeviceSession.objects.get().revoked_at is None
    assert post(api, "/api/oauth/introspect/", {"token": str(forged)}, **auth).json() == {
        "active": False
    }
    forged_access = AccessToken()  # the same for an access token: the victim's sid, mallory
    forged_access["sid"], forged_access["sub"] = victim["sid"], str(mallory.pk)
    assert post(api, "/api/oauth/revoke/", {"token": str(forged_access)}, **auth).status_code == 200
    assert DeviceSession.objects.get().revoked_at is None
    me = api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert me.status_code == 200


def test_introspection_needs_an_allowed_client(api, billing, tokens):
    client, secret = billing
    response = post(
        api,
        "/api/oauth/introspect/",
        {"token": tokens["access"]},
        **basic(client.client_id, secret),
    )
    assert response.status_code == 403
    assert response.json()["error"] == "unauthorized_client"
    assert post(api, "/api/oauth/introspect/", {"token": tokens["access"]}).status_code == 401


def test_an_expired_service_token_is_inactive(api, billing, gateway):
    client, secret = billing
    gw, gw_secret = gateway
    with time_machine.travel(timezone.now(), tick=False) as clock:
        body = post(
            api,
            TOKEN,
            {"grant_type": "client_credentials", "audience": "billing-api"},
            **basic(client.client_id, secret),
        ).json()
        clock.shift(15 * 60 + 11)
        result = post(
            api,
            "/api/oauth/introspect/",
            {"token": body["access_token"]},
            **basic(gw.client_id, gw_secret),
        )
    assert result.json() == {"active": False}


def test_json_bodies_are_refused(api, billing):
    client, secret = billing
    response = api.post(
        TOKEN,
        {"grant_type": "client_credentials"},
        format="json",
        **basic(client.client_id, secret),
    )
    assert response.status_code == 415


def test_the_command_prints_the_secret_once_and_rotates_it(api, keys):
    out = StringIO()
    call_command(
        "create_service_client",
        "reports",
        "--audience",
        "reports-api",
        "--scope",
        "r:read",
        stdout=out,
        stderr=StringIO(),
    )
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    client = ServiceClient.objects.get(client_id=lines["client_id"])
    assert lines["client_secret"] not in client.secret_hash
    ok = post(
        api,
        TOKEN,
        {"grant_type": "client_credentials"},
        **basic(client.client_id, lines["client_secret"]),
    )
    assert ok.status_code == 200
    out = StringIO()
    call_command("create_service_client", "--rotate-secret", client.client_id, stdout=out)
    new = dict(line.split("=", 1) for line in out.getvalue().split())["client_secret"]
    old = post(
        api,
        TOKEN,
        {"grant_type": "client_credentials"},
        **basic(client.client_id, lines["client_secret"]),
    )
    assert old.status_code == 401
    fresh = post(api, TOKEN, {"grant_type": "client_credentials"}, **basic(client.client_id, new))
    assert fresh.status_code == 200


def test_discovery_names_the_oauth_endpoints(api, keys):
    body = api.get("/.well-known/openid-configuration").json()
    assert body["token_endpoint"].endswith("/api/oauth/token/")
    assert body["introspection_endpoint"].endswith("/api/oauth/introspect/")
    assert body["revocation_endpoint"].endswith("/api/oauth/revoke/")
    assert body["grant_types_supported"] == ["client_credentials"]


def test_admin_creates_a_client_and_shows_the_secret_once(client):
    from iam.accounts.models import User

    admin = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client.force_login(admin)
    response = client.post(
        "/admin/iam_oauth/serviceclient/add/",
        {
            "name": "from-admin",
            "allowed_audiences": '["a"]',
            "allowed_scopes": "[]",
            "is_active": "on",
        },
        secure=True,
        follow=True,
    )
    assert response.status_code == 200
    created = ServiceClient.objects.get(name="from-admin")
    assert created.client_id.startswith("svc_")
    assert "shown only now" in response.content.decode()
