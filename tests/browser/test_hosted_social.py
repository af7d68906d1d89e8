"""Social sign-in through the hosted pages, in Chromium, against a real OpenID provider on
loopback (tests/social/provider, oidc-provider on Node.js): the provider's button on the
sign-in page, the round trip, and the link confirmation that asks for the existing account's
password. The provider signs its test users in by the ``login`` query parameter of its
interaction page: the person clicks their account there."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from iam.accounts.models import User
from iam.social.models import SocialIdentity
from iam.social.providers import jwks_cache_clear
from tests.social import conftest as social

PASSWORD = "a long passphrase of mine"


@pytest.fixture
def provider(hosted: Any, settings: Any, tmp_path: Path) -> Iterator[social.TestProvider]:
    """A provider that knows the live IAM's callback, configured in the IAM as ``idp``."""
    social._npm_ci()
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for the social sign-in tests"
    # the callback URL the IAM sends the provider is built from the issuer
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ISSUER": hosted.url}
    config = {
        "control": True,
        "clients": [
            {
                "client_id": social.CLIENT_ID,
                "client_secret": social.CLIENT_SECRET,
                "redirect_uris": [f"{hosted.url}/api/auth/social/idp/callback/"],
            }
        ],
        "accounts": {},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out.json"
    with out.open("w") as stdout:
        process = subprocess.Popen(
            [node, "server.mjs", str(tmp_path / "config.json")],
            cwd=social.PROVIDER_DIR, stdout=stdout, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not out.read_text().endswith("\n"):
            assert process.poll() is None, "the test OpenID provider exited"
            assert time.monotonic() < deadline, "the test OpenID provider did not start"
            time.sleep(0.05)
        idp = social.TestProvider(json.loads(out.read_text())["issuer"])
        settings.IAM_SOCIAL_PROVIDERS = [social.provider_config("idp", idp.issuer)]
        jwks_cache_clear()
        yield idp
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_new_person_signs_in_with_the_provider_button(hosted, browsing, provider):
    provider.account("new-sub", email="newcomer@example.com", email_verified=True, name="New")
    page = browsing.page(browsing.context())
    hosted.open(page, "/sign-in?next=%2Faccount%2Fconnections")
    button = page.get_by_role("link", name="Continue with Test idp")
    expect(button).to_be_visible()
    hosted.check(page, "sign-in-with-provider")
    button.click()
    # at the provider, the person picks their account
    expect(page.get_by_role("heading", name="Test OpenID provider")).to_be_visible()
    page.get_by_role("link", name="New <newcomer@example.com>").click()
    # the round trip ends on the page asked for, signed in with a cookie session
    expect(page).to_have_url(hosted.url + "/account/connections")
    hosted.ready(page)
    expect(page.locator("main")).to_contain_text("Test idp")
    hosted.check(page, "connections-after-social-sign-in")
    assert "access_token" not in page.evaluate("document.cookie")
    assert User.objects.get(email="newcomer@example.com").email_verified


def test_an_existing_account_is_connected_only_with_its_password(hosted, browsing, provider):
    User.objects.create_user(email="owner@example.com", password=PASSWORD, email_verified=True)
    provider.account("owner-sub", email="owner@example.com", email_verified=True)
    page = browsing.page(browsing.context())
    hosted.open(page, "/sign-in")
    page.get_by_role("link", name="Continue with Test idp").click()
    page.get_by_role("link", name=re.compile("owner@example.com")).click()
    # back on the sign-in page: the address exists, so its password is asked for
    expect(page.locator("#social-link-text")).to_contain_text("owner@example.com")
    expect(page.locator("#social-link-text")).to_contain_text("Test idp")
    hosted.check(page, "social-link-confirmation")
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The e-mail address or the password is not correct."
    )
    expect(page).to_have_url(re.compile(r"/sign-in"))
    assert not SocialIdentity.objects.exists()  # nothing connected without the password
    hosted.check(page, "social-link-wrong-password")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account"))
    hosted.ready(page)
    hosted.open(page, "/account/connections")
    hosted.ready(page)
    expect(page.locator("main")).to_contain_text("Test idp")
    hosted.check(page, "connections-after-linking")
    linked = SocialIdentity.objects.get()
    assert (linked.provider, linked.user.email) == ("idp", "owner@example.com")
