"""The hosted pages as the server renders them: strict CSP (no inline script, nonces), forms that
never put what is typed into a URL, labels and autocomplete for password managers, a sentence for
every documented error code, branding from the settings, the off switch, and the system checks.
What the pages do in a browser is tested in tests/browser (make test-browser)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.core.checks import run_checks
from django.test import Client, override_settings
from django.urls import reverse

from iam.ui.branding import contrast_ratio, text_on
from iam.ui.urls import urlpatterns

ROOT = Path(__file__).resolve().parents[2]
API_DOC = (ROOT / "docs" / "api.md").read_text()
PAGES = [p.name for p in urlpatterns if p.name != "ui-home"]

pytestmark = pytest.mark.django_db


class Page(HTMLParser):
    """The parts of a page the tests look at."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.texts: dict[str, str] = {}  # data-code → sentence
        self._code: str | None = None
        self.inline_script = False
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        self._code = attributes.get("data-code")
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True
        if self._code:
            self.texts[self._code] = self.texts.get(self._code, "") + data

    def handle_endtag(self, tag: str) -> None:
        self._code = None
        self._in_script = False

    def all(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]


def render(client: Client, name: str) -> tuple[Any, Page]:
    response = client.get(reverse(name))
    assert response.status_code == 200, name
    return response, Page(response.content.decode())


@pytest.mark.parametrize("name", PAGES)
def test_every_page_keeps_the_strict_csp(client: Client, name: str) -> None:
    response, page = render(client, name)
    csp = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "script-src 'self' 'nonce-" in csp
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert not page.inline_script
    scripts = page.all("script")
    assert len(scripts) == 1
    assert scripts[0]["type"] == "module"
    assert scripts[0]["nonce"] == nonce
    assert scripts[0]["src"].startswith("/static/iam/ui/")
    assert all(s["nonce"] == nonce for s in page.all("style"))
    assert not [t for t, a in page.tags if "style" in a]  # no style attribute (CSP refuses them)
    assert not [t for t, a in page.tags if any(k.startswith("on") for k in a)]  # no handlers
    # every asset is the IAM's own
    for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src")):
        for attrs in page.all(tag):
            assert attrs[attribute].startswith(("/", "data:")), attrs
    assert "no-store" in response["Cache-Control"]  # a nonce is never served twice from a cache


@pytest.mark.parametrize("name", PAGES)
def test_every_form_posts_and_every_control_has_a_label(client: Client, name: str) -> None:
    _, page = render(client, name)
    # the script sends forms as JSON; if it has not run, a submit must not put a password in a URL
    assert all(form.get("method") == "post" for form in page.all("form"))
    ids = [a["id"] for _, a in page.tags if "id" in a]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    labelled = {a["for"] for a in page.all("label")}
    for tag, attrs in page.tags:
        if tag in ("input", "select", "textarea") and "hidden" not in attrs:
            assert attrs.get("id") in labelled or attrs.get("aria-label"), (tag, attrs)


AUTOCOMPLETE = {
    ("ui-sign-in", "email"): "username",
    ("ui-sign-in", "password"): "current-password",
    ("ui-sign-in", "code"): "one-time-code",
    ("ui-sign-up", "email"): "username",
    ("ui-sign-up", "password"): "new-password",
    ("ui-reset-password", "password"): "new-password",
    ("ui-password", "account-username"): "username",
    ("ui-password", "current_password"): "current-password",
    ("ui-password", "new_password"): "new-password",
    ("ui-account", "current_password"): "current-password",
    ("ui-two-factor", "code"): "one-time-code",
    ("ui-delete", "password"): "current-password",
}


@pytest.mark.parametrize(("name", "field"), list(AUTOCOMPLETE))
def test_password_managers_know_every_credential_field(
    client: Client, name: str, field: str
) -> None:
    _, page = render(client, name)
    inputs = [a for a in page.all("input") if a.get("name") == field]
    assert inputs
    assert {a.get("autocomplete") for a in inputs} == {AUTOCOMPLETE[(name, field)]}


def documented_error_codes() -> set[str]:
    table = API_DOC.split("### Error codes", 1)[1].split("\n## ", 1)[0]
    codes = set()
    for row in table.splitlines():
        cells = row.split("|")
        if len(cells) > 3 and cells[1].strip().isdigit():
            codes |= set(re.findall(r"`([a-z_]+)`", cells[2]))
    return codes


def test_every_documented_error_code_has_a_sentence(client: Client) -> None:
    codes = documented_error_codes()
    assert {"invalid_credentials", "throttled", "token_reused", "last_owner"} <= codes
    _, page = render(client, "ui-sign-in")
    missing = sorted(code for code in codes if not page.texts.get(code, "").strip())
    assert not missing
    # field-level codes the API puts in `fields`, and the pages' own situations
    for code in ("password_too_short", "blank", "network", "server_error", "unknown"):
        assert page.texts[code].strip()
    assert "{wait}" in page.texts["throttled"]


def test_the_pages_use_the_brand_from_the_settings(client: Client, settings: Any) -> None:
    settings.IAM_PRODUCT_NAME = "Acme ID"
    settings.IAM_UI_LOGO_URL = "/static/brand/logo.svg"
    settings.IAM_UI_COLOR_PRIMARY = "#facc15"  # a light yellow: dark text on its buttons
    settings.IAM_UI_COLOR_BACKGROUND = "#0f172a"
    response, page = render(client, "ui-sign-in")
    html = response.content.decode()
    assert "<title>Sign in · Acme ID</title>" in html
    assert {"src": "/static/brand/logo.svg", "alt": "Acme ID"} in page.all("img")
    assert "--primary:#facc15;--on-primary:#111827;--bg:#0f172a;--on-bg:#ffffff" in html


def test_text_on_a_colour_is_the_readable_one() -> None:
    assert text_on("#1d4ed8") == "#ffffff"
    assert text_on("#facc15") == "#111827"
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#1d4ed8", "#ffffff") >= 4.5  # the default primary passes WCAG AA


def test_templates_are_overridable_like_the_mails(client: Client, settings: Any, tmp_path: Path):
    override = tmp_path / "iam" / "ui" / "includes"
    override.mkdir(parents=True)
    original = (ROOT / "src/iam/ui/templates/iam/ui/includes/text.html").read_text()
    (override / "text.html").write_text(
        original.replace("The e-mail address or the password is not correct.", "Nope.")
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    _, page = render(client, "ui-sign-in")
    assert page.texts["invalid_credentials"] == "Nope."


def test_turned_off_the_pages_are_gone_and_the_api_stays(client: Client, settings: Any) -> None:
    settings.IAM_UI_ENABLED = False
    for path in ("/", "/sign-in", "/account", "/verify-email"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert client.get("/api/auth/csrf/").status_code == 204


def test_the_front_door_leads_to_the_console(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/account"


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_its_script_and_the_server_serves_it(client: Client, name: str) -> None:
    _, page = render(client, name)
    src = page.all("script")[0]["src"]
    assert finders.find(src.removeprefix("/static/"))
    response = client.get(src)  # WhiteNoise, with DEBUG off as in production
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = b"".join(response.streaming_content)
    assert b'from "./core.js"' in body


def test_only_the_pages_post_nothing(client: Client) -> None:
    # a page is a shell: it takes no form post (the script calls the API instead)
    assert client.post("/sign-in", {"email": "a@example.com", "password": "x"}).status_code == 405


def test_social_buttons_appear_only_where_the_iam_has_social_sign_in(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, page = render(client, "ui-sign-in")
    assert {"name": "iam-social", "content": "on"} in page.all("meta")  # iam.social is routed
    monkeypatch.setattr("iam.ui.views.SOCIAL_PROVIDERS_PATH", "/api/auth/no-social/providers/")
    _, page = render(client, "ui-sign-in")
    assert {"name": "iam-social", "content": "on"} not in page.all("meta")


# --- settings and checks ------------------------------------------------------------------------


def checks(ids: str) -> list[str]:
    return [m.id for m in run_checks() if m.id.startswith(ids)]


def test_checks_pass_with_the_defaults() -> None:
    assert not checks("iam_ui.E")
    assert "iam_ui.W001" not in checks("iam_ui.W")


@override_settings(IAM_UI_COLOR_PRIMARY="red;} body{display:none")
def test_a_colour_that_is_not_a_colour_is_refused() -> None:
    assert "iam_ui.E002" in checks("iam_ui.E")


@override_settings(IAM_UI_COLOR_PRIMARY="#fde68a")
def test_a_primary_colour_too_light_for_links_is_a_warning() -> None:
    assert "iam_ui.W001" in checks("iam_ui.W")


@pytest.mark.parametrize("logo", ["https://cdn.example.com/logo.png", "//cdn.example.com/l.png"])
def test_a_logo_from_another_origin_is_refused(settings: Any, logo: str) -> None:
    settings.IAM_UI_LOGO_URL = logo
    assert "iam_ui.E003" in checks("iam_ui.E")


@pytest.mark.parametrize("api", ["iam.example.com", "https://iam.example.com/api", "javascript:x"])
def test_the_api_of_pages_on_another_origin_must_be_an_origin(settings: Any, api: str) -> None:
    settings.IAM_UI_API_URL = api
    assert "iam_ui.E004" in checks("iam_ui.E")


def test_pages_off_without_a_front_end_for_the_links_is_refused(settings: Any) -> None:
    settings.IAM_UI_ENABLED = False
    settings.IAM_FRONTEND_URL = ""
    assert "iam_ui.E001" in checks("iam_ui.E")


def _settings_value(name: str, **env: str) -> str:
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true", **env})
    code = f"from django.conf import settings; print(settings.{name})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_mailed_links_open_the_iams_own_pages_unless_told_otherwise(tmp_path: Path) -> None:
    env = {"IAM_VAR_DIR": str(tmp_path), "IAM_ISSUER": "http://127.0.0.1:9000"}
    assert _settings_value("IAM_FRONTEND_URL", **env) == "http://127.0.0.1:9000"
    other = {**env, "IAM_FRONTEND_URL": "https://app.example.com/"}
    assert _settings_value("IAM_FRONTEND_URL", **other) == "https://app.example.com"
    assert _settings_value("IAM_FRONTEND_URL", **env, IAM_UI_ENABLED="false") == ""


def test_jwt_setting_overrides_reach_the_iam_settings(settings: Any) -> None:
    from datetime import timedelta

    from iam.core.conf import iam_settings

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(seconds=7)}
    assert iam_settings.access_lifetime == timedelta(seconds=7)
