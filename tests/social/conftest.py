"""A real OpenID Provider on loopback (``tests/social/provider``: panva/oidc-provider run by
Node.js), installed (``npm ci``) and started by these fixtures, one per test process. The IAM
talks to it over HTTP exactly as to any OpenID Connect provider: discovery, JWKS, token and
UserInfo endpoints. A test plays the browser at the provider with ``idp.authorize()``."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from iam.social.providers import jwks_cache_clear
from tests.mfa.conftest import clock, user_with_totp  # noqa: F401 (fixtures)

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
CLIENT_ID = "iam-test-client"
CLIENT_SECRET = "iam-test-client-secret-0123456789abcdef"
NAMES = ("idp", "google", "microsoft", "autolink", "other")
IAM_CALLBACK = "https://iam.test/api/auth/social/{name}/callback/"


def _npm_ci() -> None:
    """Install the provider's locked dependencies once per checkout (test processes take
    turns; the first one installs)."""
    marker = PROVIDER_DIR / "node_modules" / ".package-lock.json"
    lock = PROVIDER_DIR / "package-lock.json"
    with open(Path(tempfile.gettempdir()) / f"iam-idp-npm-{os.getuid()}.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(
                "Node.js and npm are needed for the social sign-in tests "
                "(apt-get install nodejs npm)"
            )
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PROVIDER_DIR,
            check=True,
            timeout=300,
        )


class TestProvider:
    """The running provider, and what a test does with it."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.http = requests.Session()
        self.http.trust_env = False  # loopback, never through a proxy

    def account(self, sub: str, **claims: Any) -> str:
        """Add (or replace) a user of the provider."""
        self.http.post(
            f"{self.issuer}/__test/accounts", json={"sub": sub, **claims}
        ).raise_for_status()
        return sub

    def fault(self, kind: str) -> None:
        """Rewrite the provider's next token (or UserInfo) response, as an attacker would."""
        self.http.post(f"{self.issuer}/__test/fault", json={"kind": kind}).raise_for_status()

    def token_requests(self) -> list[dict[str, Any]]:
        return self.http.get(f"{self.issuer}/__test/token-requests").json()["requests"]

    def authorize(self, url: str, *, login: str | None = None, deny: bool = False) -> str:
        """Play the browser at the provider: follow its authorization URL, sign in as ``login``
        (or cancel), and return where the provider redirects back to (the IAM's callback URL
        with ``code`` and ``state``)."""
        browser = requests.Session()
        browser.trust_env = False
        response = browser.get(url, allow_redirects=False, timeout=10)
        while response.status_code in (302, 303):
            location = response.headers["location"]
            if location.startswith("/"):
                location = self.issuer + location
            if not location.startswith(self.issuer):
                return location  # back at the IAM
            if "/interaction/" in location:
                location += "?deny=1" if deny else f"?login={login}"
            response = browser.get(location, allow_redirects=False, timeout=10)
        raise AssertionError(
            f"the provider did not redirect back: {response.status_code} {response.text[:300]}"
        )

    def authorize_code(
        self, *, login: str, claims: dict | None = None, nonce: str = "app-nonce"
    ) -> dict:
        """Sign in as an app would (its own code flow with PKCE), returning the token response
        (with the ID token an app then gives the IAM)."""
        import base64
        import hashlib
        import secrets
        from urllib.parse import urlencode

        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        redirect_uri = IAM_CALLBACK.format(name="idp")
        params = {
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": "openid email profile",
            "redirect_uri": redirect_uri,
            "state": "app-state",
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if claims is not None:
            params["claims"] = json.dumps(claims)
        back = self.authorize(f"{self.issuer}/auth?{urlencode(params)}", login=login)
        code = parse_qs(urlsplit(back).query)["code"][0]
        response = self.http.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def test_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestProvider]:
    _npm_ci()
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed for the social sign-in tests")
    config = {
        "control": True,
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [IAM_CALLBACK.format(name=n) for n in NAMES],
            }
        ],
        "accounts": {},
    }
    folder = tmp_path_factory.mktemp("idp")
    path, out = folder / "config.json", folder / "out.json"
    path.write_text(json.dumps(config))
    with open(out, "w") as stdout:
        process = subprocess.Popen(
            [node, "server.mjs", str(path)],
            cwd=PROVIDER_DIR,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 60
        while not out.read_text().endswith("\n"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the test OpenID provider did not start")
            time.sleep(0.05)
        yield TestProvider(json.loads(out.read_text())["issuer"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def provider_config(name: str, issuer: str, *, kind: str = "oidc", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "display_name": f"Test {name}",
        **extra,
    }


@pytest.fixture
def idp(test_provider: TestProvider, settings: Any, keys: Any) -> TestProvider:
    """The test provider, configured in the IAM as the generic OIDC provider ``idp``."""
    settings.IAM_SOCIAL_PROVIDERS = [provider_config("idp", test_provider.issuer)]
    jwks_cache_clear()
    return test_provider


class SignIn:
    """A browser's social sign-in through the IAM, step by step."""

    def __init__(self, client: Any, idp: TestProvider, provider: str = "idp") -> None:
        self.client = client
        self.idp = idp
        self.provider = provider

    def begin(self, **params: str) -> Any:
        return self.client.get(f"/api/auth/social/{self.provider}/begin/", params)

    def callback(self, location: str) -> Any:
        query = urlsplit(location).query
        return self.client.get(f"/api/auth/social/{self.provider}/callback/?{query}")

    def run(self, login: str, **params: str) -> Any:
        """begin → the provider (signed in as ``login``) → callback; the callback's response."""
        begun = self.begin(**params)
        assert begun.status_code == 302, begun.content
        back = self.idp.authorize(begun["Location"], login=login)
        return self.callback(back)


def redirect_query(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.content
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
