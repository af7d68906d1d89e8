"""What is specific to the built-in providers. GitHub's and Google's own endpoints are not
reachable from the test machines: GitHub runs against a loopback server answering with
responses recorded from GitHub's API documentation (token, ``/user``, ``/user/emails``); Google
and Microsoft run their backends against the test OpenID provider (their discovery URLs point
at it), with Google's ``hd`` and Entra's ``xms_edov``/``tid`` claims; the mapping functions are
also checked on recorded claims."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from iam.accounts.models import User
from iam.social.models import SocialIdentity
from iam.social.pipeline import github_verified_email, google_domain_allowed, oidc_email
from iam.social.providers import microsoft_issuer
from tests.social.conftest import SignIn, provider_config, redirect_query

# Recorded (GitHub REST API docs, "Get the authenticated user" / "List email addresses for the
# authenticated user"), trimmed to the fields the IAM reads.
GITHUB_TOKEN = {
    "access_token": "gho_16C7e42F292c6912E7710c838347Ae178B4a",
    "scope": "user:email",
    "token_type": "bearer",
}
GITHUB_USER = {
    "login": "octocat",
    "id": 583231,
    "node_id": "MDQ6VXNlcjU4MzIzMQ==",
    "name": "The Octocat",
    "email": "octocat@github.com",
}
GITHUB_EMAILS = [
    {"email": "octocat@github.com", "verified": True, "primary": True, "visibility": "public"},
    {
        "email": "octocat@users.noreply.github.com",
        "verified": True,
        "primary": False,
        "visibility": None,
    },
]
# Recorded (Google's "Authenticate with a backend server" sample ID token payload), a Workspace
# account of example.com.
GOOGLE_CLAIMS = {
    "iss": "https://accounts.google.com",
    "azp": "1234987819200.apps.googleusercontent.com",
    "aud": "1234987819200.apps.googleusercontent.com",
    "sub": "10769150350006150715113082367",
    "hd": "example.com",
    "email": "jsmith@example.com",
    "email_verified": True,
    "iat": 1353601026,
    "exp": 1353604926,
    "nonce": "0394852-3190485-2490358",
}


class GitHub:
    def __init__(self) -> None:
        self.emails: list[dict[str, Any]] = GITHUB_EMAILS
        self.token_requests: list[dict[str, list[str]]] = []


@pytest.fixture
def github(settings: Any, keys: Any) -> Iterator[GitHub]:
    state = GitHub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            state.token_requests.append(parse_qs(self.rfile.read(length).decode()))
            self._json(GITHUB_TOKEN)

        def do_GET(self) -> None:
            assert self.headers["Authorization"] == f"token {GITHUB_TOKEN['access_token']}"
            self._json(state.emails if self.path == "/user/emails" else GITHUB_USER)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings.IAM_SOCIAL_PROVIDERS = [
        {
            "name": "github",
            "kind": "github",
            "client_id": "gh-client",
            "client_secret": "gh-secret",
            # tests only: GitHub's URLs, here the recorded responses' loopback server
            "extra": {
                "api_url": f"{base}/",
                "access_token_url": f"{base}/login/oauth/access_token",
            },
        }
    ]
    yield state
    server.shutdown()
    server.server_close()


def _github_sign_in(browser: APIClient) -> Any:
    begun = browser.get("/api/auth/social/github/begin/")
    query = parse_qs(urlsplit(begun["Location"]).query)
    assert begun["Location"].startswith("https://github.com/login/oauth/authorize?")
    assert query["scope"] == ["user:email"]
    assert query["code_challenge_method"] == ["S256"]
    return browser.get(
        "/api/auth/social/github/callback/", {"code": "recorded-code", "state": query["state"][0]}
    )


def test_github_signs_in_with_its_primary_verified_address(github: GitHub, db: Any) -> None:
    response = _github_sign_in(APIClient())
    assert response["Location"] == "https://app.iam.test/"
    identity = SocialIdentity.objects.get(provider="github")
    assert identity.subject == "583231"  # the numeric id, never the (mutable) login
    assert identity.user.email == "octocat@github.com"
    assert identity.user.name == "The Octocat"
    sent = github.token_requests[0]
    assert sent["code"] == ["recorded-code"]
    assert len(sent["code_verifier"][0]) >= 43


def test_github_without_a_verified_primary_address_is_refused(github: GitHub, db: Any) -> None:
    """The profile's public ``email`` and a verified secondary address do not count."""
    github.emails = [
        {"email": "octocat@github.com", "verified": False, "primary": True, "visibility": "public"},
        {"email": "other@example.com", "verified": True, "primary": False, "visibility": None},
    ]
    response = _github_sign_in(APIClient())
    assert redirect_query(response)["social_error"] == "social_email_not_verified"
    assert not User.objects.exists()


def test_github_has_no_id_token_endpoint(github: GitHub, db: Any) -> None:
    response = APIClient().post("/api/auth/social/github/token/", {"id_token": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "provider_not_found"


def test_google_hosted_domains_admit_only_their_accounts(
    test_provider: Any, settings: Any, keys: Any
) -> None:
    settings.IAM_SOCIAL_PROVIDERS = [
        provider_config(
            "google", test_provider.issuer, kind="google", hosted_domains=["example.com"]
        )
    ]
    test_provider.account("g-1", email="jsmith@example.com", email_verified=True, hd="example.com")
    test_provider.account("g-2", email="someone@gmail.com", email_verified=True)
    test_provider.account("g-3", email="x@other.example", email_verified=True, hd="other.example")
    begun = APIClient().get("/api/auth/social/google/begin/")
    assert parse_qs(urlsplit(begun["Location"]).query)["hd"] == ["example.com"]
    assert (
        SignIn(APIClient(), test_provider, "google").run("g-1")["Location"]
        == "https://app.iam.test/"
    )
    for sub in ("g-2", "g-3"):
        refused = SignIn(APIClient(), test_provider, "google").run(sub)
        assert redirect_query(refused)["social_error"] == "social_domain_not_allowed"
    assert User.objects.count() == 1


def test_microsoft_email_counts_as_verified_only_with_xms_edov(
    test_provider: Any, settings: Any, keys: Any
) -> None:
    settings.IAM_SOCIAL_PROVIDERS = [
        provider_config("microsoft", test_provider.issuer, kind="microsoft")
    ]
    tid = "9188040d-6c67-4c5b-b112-36a304b66dad"
    test_provider.account("m-1", email="ann@contoso.test", email_verified=True, tid=tid)
    refused = SignIn(APIClient(), test_provider, "microsoft").run("m-1")
    assert redirect_query(refused)["social_error"] == "social_email_not_verified"
    test_provider.account("m-2", email="ann@contoso.test", xms_edov=True, tid=tid)
    assert (
        SignIn(APIClient(), test_provider, "microsoft").run("m-2")["Location"]
        == "https://app.iam.test/"
    )


def test_recorded_claims_map_as_documented() -> None:
    assert github_verified_email({"emails": GITHUB_EMAILS}) == ("octocat@github.com", True)
    assert github_verified_email({"email": "octocat@github.com"}) == ("", False)
    assert google_domain_allowed(
        hosted_domains=("example.com",), id_token=GOOGLE_CLAIMS, response={}
    )
    assert not google_domain_allowed(
        hosted_domains=("example.org",), id_token=GOOGLE_CLAIMS, response={}
    )
    assert google_domain_allowed(hosted_domains=(), id_token={}, response={})
    assert oidc_email(kind="google", id_token=GOOGLE_CLAIMS, response={}) == (
        "jsmith@example.com",
        True,
    )
    assert oidc_email(
        kind="oidc", id_token={}, response={"email": "a@b.test", "email_verified": "true"}
    ) == ("a@b.test", True)
    assert oidc_email(
        kind="oidc", id_token={}, response={"email": "a@b.test", "email_verified": "yes"}
    ) == ("a@b.test", False)
    # Entra: the email claim alone is not verified; xms_edov is
    assert oidc_email(
        kind="microsoft", id_token={"email": "a@b.test", "email_verified": True}, response={}
    ) == ("a@b.test", False)
    assert oidc_email(
        kind="microsoft", id_token={"email": "a@b.test", "xms_edov": True}, response={}
    ) == ("a@b.test", True)
    # the address and whether it is verified come from one source, never mixed
    assert oidc_email(
        kind="oidc", id_token={"email": "a@b.test"}, response={"email_verified": True}
    ) == ("a@b.test", False)
    assert oidc_email(
        kind="oidc", id_token={}, response={"email": "not an address", "email_verified": True}
    ) == ("", False)


def test_microsoft_multi_tenant_issuer_is_the_template_with_the_tokens_tenant() -> None:
    template = "https://login.microsoftonline.com/{tenantid}/v2.0"
    tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert (
        microsoft_issuer(template, {"tid": tid}) == f"https://login.microsoftonline.com/{tid}/v2.0"
    )
    assert microsoft_issuer(template, {}) is None
    assert microsoft_issuer(template, {"tid": "../evil"}) is None
    assert microsoft_issuer(f"https://login.microsoftonline.com/{tid}/v2.0", {"tid": "x"}) == (
        f"https://login.microsoftonline.com/{tid}/v2.0"
    )
