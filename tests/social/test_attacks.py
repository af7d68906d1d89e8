"""Attacks on the browser flow that a correct provider never produces: the test provider is told
to rewrite its next token response (or a test forges the callback), and the IAM, talking HTTP
to it as usual, must refuse without signing anyone in."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from tests.social.conftest import SignIn, provider_config, redirect_query


def _refused(response: Any, code: str) -> None:
    query = redirect_query(response)
    assert query["social_error"] == code, query
    assert response["Location"].startswith("https://app.iam.test/sign-in?")
    assert "access_token" not in response.cookies
    assert "refresh_token" not in response.cookies
    assert not DeviceSession.objects.exists()


@pytest.mark.parametrize(
    "fault",
    [
        "aud",
        "iss",
        "expired",
        "stale_iat",
        "alg_none",
        "hs256",
        "foreign_key",
        "nonce",
        "no_id_token",
    ],
)
def test_a_forged_or_unfit_id_token_is_refused(idp: Any, db: Any, fault: str) -> None:
    """Wrong audience, wrong issuer, expired, issued too long ago, unsigned (alg none), HMAC-signed
    with the client secret where RS256 is expected, signed by a key not in the provider's JWKS,
    another sign-in's nonce, or none at all."""
    idp.account("victim", email="victim@idp.test", email_verified=True)
    idp.fault(fault)
    response = SignIn(APIClient(), idp).run("victim")
    _refused(response, "id_token_invalid")
    assert not User.objects.exists()
    refusal = AuditEvent.objects.get(type="user:social:refused")
    assert refusal.data["reason"] == "id_token_invalid"
    assert refusal.data["provider"] == "idp"


def test_the_same_sign_in_works_without_the_fault(idp: Any, db: Any) -> None:
    """(The control for the test above: the faults are what the IAM refuses.)"""
    idp.account("victim", email="victim@idp.test", email_verified=True)
    response = SignIn(APIClient(), idp).run("victim")
    assert response["Location"] == "https://app.iam.test/"


def test_userinfo_for_another_subject_is_refused(idp: Any, db: Any) -> None:
    idp.account("ui-1", email="ui@idp.test", email_verified=True)
    idp.fault("userinfo_sub")
    _refused(SignIn(APIClient(), idp).run("ui-1"), "provider_error")


def test_a_provider_error_at_the_token_endpoint_is_not_a_500(idp: Any, db: Any) -> None:
    idp.account("err-1", email="err@idp.test", email_verified=True)
    idp.fault("token_server_error")
    _refused(SignIn(APIClient(), idp).run("err-1"), "provider_unavailable")


def test_a_callback_without_state_or_with_another_state_is_refused(idp: Any, db: Any) -> None:
    idp.account("st-1", email="st@idp.test", email_verified=True)
    flow = SignIn(APIClient(), idp)
    back = idp.authorize(flow.begin()["Location"], login="st-1")
    exchanged = len(idp.token_requests())
    without = back.replace("state=", "xstate=")
    _refused(flow.callback(without), "social_state_invalid")
    forged = back.split("state=")[0] + "state=" + "A" * 32
    _refused(flow.callback(forged), "social_state_invalid")
    assert len(idp.token_requests()) == exchanged  # the code was never sent anywhere


def test_a_callback_in_another_browser_is_refused(idp: Any, db: Any) -> None:
    """Login CSRF: the attacker's own code and state, delivered to the victim's browser."""
    idp.account("attacker", email="attacker@idp.test", email_verified=True)
    attacker = SignIn(APIClient(), idp)
    back = idp.authorize(attacker.begin()["Location"], login="attacker")
    victim = SignIn(APIClient(), idp)
    _refused(victim.callback(back), "social_state_invalid")
    assert not User.objects.exists()


def test_a_replayed_callback_is_refused(idp: Any, db: Any) -> None:
    idp.account("rp-1", email="rp@idp.test", email_verified=True)
    flow = SignIn(APIClient(), idp)
    back = idp.authorize(flow.begin()["Location"], login="rp-1")
    assert flow.callback(back)["Location"] == "https://app.iam.test/"
    DeviceSession.objects.all().delete()
    _refused(flow.callback(back), "social_state_invalid")


def test_a_replayed_authorization_code_is_refused_by_the_provider(idp: Any, db: Any) -> None:
    """The code of a finished sign-in, sent with a fresh state of the same browser: the IAM
    exchanges it, the provider refuses it (used, and not for this PKCE verifier)."""
    idp.account("code-1", email="code@idp.test", email_verified=True)
    flow = SignIn(APIClient(), idp)
    first = idp.authorize(flow.begin()["Location"], login="code-1")
    assert flow.callback(first)["Location"] == "https://app.iam.test/"
    DeviceSession.objects.all().delete()
    fresh_state = flow.begin()["Location"].split("state=")[1].split("&")[0]
    code = first.split("code=")[1].split("&")[0]
    replay = f"https://iam.test/api/auth/social/idp/callback/?code={code}&state={fresh_state}"
    _refused(flow.callback(replay), "social_code_invalid")
    assert idp.token_requests()[-1]["error"] == "invalid_grant"


def test_an_unverified_address_never_creates_or_finds_an_account(idp: Any, user: User) -> None:
    """``email_verified: false`` at the provider: no new account, and no look-up of a local one
    (here alice@example.com exists: she must not be offered a link or signed in)."""
    idp.account("unv-1", email="alice@example.com", email_verified=False)
    _refused(SignIn(APIClient(), idp).run("unv-1"), "social_email_not_verified")
    idp.account("unv-2", email="someone@idp.test", email_verified=False)
    _refused(SignIn(APIClient(), idp).run("unv-2"), "social_email_not_verified")
    idp.account("none-1")
    _refused(SignIn(APIClient(), idp).run("none-1"), "social_email_missing")
    assert User.objects.count() == 1
    assert not AuditEvent.objects.filter(type="user:social:link_required").exists()


def test_an_unreachable_provider_lands_on_the_sign_in_page(settings: Any, db: Any) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.IAM_SOCIAL_PROVIDERS = [provider_config("idp", f"http://127.0.0.1:{port}")]
    response = APIClient().get("/api/auth/social/idp/begin/", {"next": "/x"})
    assert redirect_query(response) == {
        "social_error": "provider_unavailable",
        "provider": "idp",
        "next": "https://app.iam.test/x",
    }


def test_an_issuer_whose_discovery_names_another_issuer_is_refused(
    test_provider: Any, settings: Any, db: Any
) -> None:
    """OIDC Discovery §4.3: the document must name the issuer it was fetched for."""
    settings.IAM_SOCIAL_PROVIDERS = [
        provider_config("idp", test_provider.issuer.replace("127.0.0.1", "localhost"))
    ]
    response = APIClient().get("/api/auth/social/idp/begin/")
    assert redirect_query(response)["social_error"] == "provider_error"


def test_the_callback_is_rate_limited_per_client(idp: Any, db: Any, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login_ip": "2/min",
        },
    }
    flow = SignIn(APIClient(), idp)
    for _ in range(2):
        flow.callback("https://iam.test/api/auth/social/idp/callback/?code=x&state=y")
    response = flow.callback("https://iam.test/api/auth/social/idp/callback/?code=x&state=y")
    assert redirect_query(response)["social_error"] == "throttled"


@pytest.mark.parametrize(
    "next_value",
    [
        "//evil.example/x",
        "https:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "data:text/html,hi",
        "https://evil.example/",
        "https://app.iam.test@evil.example/",
        "https://app.iam.test.evil.example/",
        "http://app.iam.test/",
        " https://app.iam.test/",
        "/ok\r\nLocation: https://evil.example",
        "https://app.iam.test:8443/",
    ],
)
def test_next_outside_the_allow_list_falls_back_to_the_default(
    idp: Any, db: Any, next_value: str
) -> None:
    idp.account("nx-1", email="nx@idp.test", email_verified=True)
    response = SignIn(APIClient(), idp).run("nx-1", next=next_value)
    assert response["Location"] == "https://app.iam.test/"


def test_next_may_name_an_allowed_origin(idp: Any, db: Any, settings: Any) -> None:
    settings.IAM_ALLOWED_REDIRECT_ORIGINS = ["https://shop.example.com"]
    idp.account("nx-2", email="nx2@idp.test", email_verified=True)
    response = SignIn(APIClient(), idp).run("nx-2", next="https://shop.example.com/cart?x=1")
    assert response["Location"] == "https://shop.example.com/cart?x=1"


def test_an_authorization_response_from_another_issuer_is_refused(idp: Any, db: Any) -> None:
    """RFC 9207 (mix-up): the provider names itself in ``iss``; another name is refused before
    the code goes anywhere."""
    idp.account("mix-1", email="mix@idp.test", email_verified=True)
    flow = SignIn(APIClient(), idp)
    back = idp.authorize(flow.begin()["Location"], login="mix-1")
    assert "iss=" in back
    exchanged = len(idp.token_requests())
    forged = back.split("iss=")[0] + "iss=http%3A%2F%2Fevil.example"
    _refused(flow.callback(forged), "social_state_invalid")
    assert len(idp.token_requests()) == exchanged
