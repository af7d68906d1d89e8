"""Browser tests: Debian's Chromium, driven by Playwright, against a real IAM over HTTP.

Run them with ``make test-browser`` (it sets ``IAM_BROWSER=1``). ``make test`` does not even
collect them, so a newcomer's ``make test`` needs no Chromium. Where they run, nothing is ever
skipped: a missing Chromium fails every test with what to install. CI installs Debian's
``chromium`` when ``/usr/bin/chromium`` is missing (``.ci/run``). ``playwright install`` is never
needed (nor reachable): the ``playwright`` wheel carries its driver, and the browser is the
system's (``IAM_TEST_CHROMIUM`` names another executable).

Host names
    Inside the browser every ``*.test`` name (RFC 6761: never a real host) resolves to 127.0.0.1
    (``--host-resolver-rules``), so one machine plays several origins and sites:
    ``iam.example.test`` and ``app.example.test`` are two origins of one site (``example.test``),
    ``app.elsewhere.test`` is another site. Ports tell servers apart. Python code (``httpx`` in a
    test) does not see this mapping: it talks to ``127.0.0.1`` with a ``Host`` header.

Fixtures
    ``chromium`` (session)
        The Playwright ``Browser``: headless Chromium with the flags this machine needs (no
        sandbox, no GPU, no QUIC, no background networking), a fresh profile per run.
    ``browsing``
        The test's contexts and pages: ``browsing.context(**options)`` opens a new context (its
        own cookie jar and storage: one per simulated person or device), ``browsing.page(ctx)`` a
        page in it. All are closed after the test. When a test fails, every open page's
        screenshot, URL and console log (messages and uncaught errors) are saved in its artefact
        folder, which the report names.
    ``browser_context`` / ``page``
        The first context and a page in it, for tests that need one.
    ``iam_server``
        The IAM served over real HTTP by pytest-django's ``live_server``: Django's own WSGI
        handler with the full ``MIDDLEWARE`` of ``config/settings.py`` (security headers, CSP,
        CORS, CSRF, sessions, tenants), the settings of the test run (``DEBUG`` off), a signing
        key (``keys``), at ``iam_server.url`` = ``http://iam.example.test:<port>``. It runs in a
        thread of the test process, so the test and the server share
        - the database: transactional (rows the server writes are committed and visible to the
          test; everything is flushed after the test), so ordinary fixtures such as ``user``
          create what the browser signs in with, and assertions read the database directly;
        - the settings: changes through pytest-django's ``settings`` fixture apply to the next
          request. ``iam_server.allow_origins(*origins)`` lists browser apps in
          ``CORS_ALLOWED_ORIGINS`` and trusts them for CSRF, as ``config/settings.py`` does.
        Plain HTTP, so the IAM's cookies are not ``Secure`` here (``IAM_COOKIE_SECURE`` off).
        Rate limits are the defaults (5 sign-ins a minute per address); the cache is cleared
        before each test.
    ``static_origin(directory, host="app.example.test")``
        Serves a folder of static files (``Cache-Control: no-store``) from another origin on a
        free port and returns that origin, e.g. ``http://app.example.test:41234``. Any number per
        test; stopped after it. Apps take the IAM's URL from their query string.
    ``artefacts``
        The test's own folder for screenshots and logs: ``var/test-artefacts/browser/<test>/``
        (or under ``IAM_TEST_ARTEFACTS``), emptied when the test starts.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

collect_ignore_glob = [] if os.environ.get("IAM_BROWSER") == "1" else ["test_*.py"]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("IAM_TEST_CHROMIUM", "/usr/bin/chromium")
IAM_HOST = "iam.example.test"
APP_HOST = "app.example.test"
CHROMIUM_ARGS = [
    # Playwright adds --headless and a fresh --user-data-dir of its own to every launch
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP *.test 127.0.0.1",
]
TIMEOUT_MS = 10_000
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_BROWSING = pytest.StashKey["Browsing"]()
_EMPTIED = pytest.StashKey[Path]()


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """On SQLite the test database is a file. The default in-memory one is shared between the
    live server's request threads in SQLite's shared-cache mode, whose table locks do not wait:
    two requests writing at once (two tabs refreshing together) get "database table is
    locked", an OperationalError answered 503. A file locks as in production (WAL,
    ``IMMEDIATE`` transactions, SQLite's busy timeout)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = tmp_path_factory.mktemp("database") / "browser.sqlite3"
        database.setdefault("TEST", {})["NAME"] = str(name)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"No Chromium at {CHROMIUM}: install Debian's (apt-get install -y chromium) or set "
            "IAM_TEST_CHROMIUM. Browser tests are never skipped.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop marked as running in this thread, so Django's
    # async guard would refuse every ORM call of a test (fixtures, assertions). Lifted while
    # Chromium is up, in this run only; the server thread has no loop and keeps its guard.
    guard = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if guard is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = guard


@dataclass
class Browsing:
    """The contexts and pages of one test (see the module docstring)."""

    chromium: Any
    contexts: list[Any] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def context(self, **options: Any) -> Any:
        context = self.chromium.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def page(self, context: Any | None = None) -> Any:
        if context is None:
            context = self.contexts[0] if self.contexts else self.context()
        return context.new_page()

    def _watch(self, page: Any) -> None:
        c = next(i for i, context in enumerate(self.contexts) if context is page.context)
        name = f"context{c}-page{len(page.context.pages) - 1}"
        page.on("console", lambda m: self.console.append(f"{name} {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"{name} uncaught: {e}"))

    def save(self, folder: Path) -> list[Path]:
        """Screenshot, URL and console log of every open page, into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for c, context in enumerate(self.contexts):
            for p, page in enumerate(context.pages):
                if page.is_closed():
                    continue
                shot = folder / f"context{c}-page{p}.png"
                try:
                    page.screenshot(path=str(shot), full_page=True)
                    saved.append(shot)
                except Exception as exc:  # a crashed page still gets its log
                    self.console.append(f"context{c}-page{p}: no screenshot ({exc})")
                self.console.append(f"context{c}-page{p} was at {page.url}")
        log = folder / "console.log"
        log.write_text("\n".join(self.console) + "\n")
        return [*saved, log]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    _artefact_folder(request.node)  # no artefacts of an earlier run are mistaken for this one's
    browsing = Browsing(chromium)
    request.node.stash[_BROWSING] = browsing
    yield browsing
    browsing.close()


@pytest.fixture
def browser_context(browsing: Browsing) -> Any:
    return browsing.contexts[0] if browsing.contexts else browsing.context()


@pytest.fixture
def page(browsing: Browsing, browser_context: Any) -> Any:
    return browsing.page(browser_context)


def _artefact_folder(item: pytest.Item) -> Path:
    """The test's artefact folder, emptied the first time the test asks for it."""
    if _EMPTIED not in item.stash:
        base = os.environ.get("IAM_TEST_ARTEFACTS", ROOT / "var" / "test-artefacts" / "browser")
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid.split("::", 1)[-1])[:150]
        folder = Path(base) / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        item.stash[_EMPTIED] = folder
    return item.stash[_EMPTIED]


@pytest.fixture
def artefacts(request: pytest.FixtureRequest) -> Path:
    return _artefact_folder(request.node)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.failed and report.when == "call" and _BROWSING in item.stash:
        saved = item.stash[_BROWSING].save(_artefact_folder(item))
        report.sections.append(("browser artefacts", "\n".join(map(str, saved))))
    return report


# --- servers -------------------------------------------------------------------------------------


@dataclass
class IAMServer:
    """The IAM as the browser reaches it (see the module docstring)."""

    host: str
    port: int
    settings: Any

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def allow_origins(self, *origins: str) -> None:
        """Browser apps on other origins: CORS with credentials, trusted for CSRF."""
        self.settings.CORS_ALLOWED_ORIGINS = list(origins)
        self.settings.CSRF_TRUSTED_ORIGINS = list(origins)


@pytest.fixture
def iam_server(live_server: Any, settings: Any, keys: Any) -> IAMServer:
    # a database file, not SQLite's shared in-memory one (see django_db_modify_db_settings)
    assert not connection.is_in_memory_db(), "concurrent requests would collide"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, IAM_HOST]
    # plain HTTP: a browser keeps no Secure cookie set over http:// (but on localhost)
    settings.IAM_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SESSION_COOKIE_SECURE = False
    return IAMServer(host=IAM_HOST, port=live_server.thread.port, settings=settings)


class _StaticFiles(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_origin() -> Iterator[Callable[..., str]]:
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def serve(directory: Path, *, host: str = APP_HOST) -> str:
        server = ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(_StaticFiles, directory=str(directory))
        )
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://{host}:{server.server_address[1]}"

    yield serve
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- the hosted pages (iam.ui) ------------------------------------------------------------------

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
NARROW = {"width": 360, "height": 740}
# what a page's console may say without failing the test: the browser's own line for an API
# answer the page expects and handles (a 401 before a silent refresh, a 400 it explains); and,
# on the plain-HTTP *.test names, that COOP is ignored outside a secure context
_EXPECTED_CONSOLE = re.compile(
    r"Failed to load resource: the server responded with a status of 4\d\d"
    r"|The Cross-Origin-Opener-Policy header has been ignored"
)


@dataclass
class HostedPages:
    """The IAM's own pages as a person meets them; see the ``hosted`` fixture."""

    url: str
    inbox: Any
    browsing: Browsing
    artefacts: Path
    shots: int = 0

    def open(self, page: Any, path: str) -> Any:
        page.goto(self.url + path)
        return page

    def ready(self, page: Any) -> None:
        """Wait until a console page has confirmed the sign-in and shows its content."""
        page.locator("main [data-when='ready']").first.wait_for(state="visible")

    def check(self, page: Any, name: str) -> None:
        """What every page must pass, in the state it is in now: a screenshot (wide and 360 px
        wide) in the artefacts, nothing wider than a 360 px screen, no serious or critical
        axe-core violation, no CSP violation and no uncaught error in the console."""
        self.shots += 1
        stem = f"{self.shots:02d}-{name}"
        page.screenshot(path=str(self.artefacts / f"{stem}.png"), full_page=True)
        violations = axe_violations(page)
        assert not violations, f"{name}: {violations}"
        wide = page.viewport_size
        page.set_viewport_size(NARROW)
        try:
            page.screenshot(path=str(self.artefacts / f"{stem}-360.png"), full_page=True)
            overflow = page.evaluate("() => document.documentElement.scrollWidth")
            assert overflow <= NARROW["width"], f"{name} is {overflow}px wide at 360px"
            assert not axe_violations(page), f"{name} at 360px"
        finally:
            page.set_viewport_size(wide)
        self.assert_console_clean()

    def assert_console_clean(self) -> None:
        bad = [
            line
            for line in self.browsing.console
            if (" error: " in line or " uncaught: " in line or "Content Security Policy" in line)
            and not _EXPECTED_CONSOLE.search(line)
        ]
        assert not bad, bad

    def mails_to(self, address: str) -> list[Any]:
        from email import message_from_bytes, policy

        found = []
        for envelope in self.inbox.envelopes:
            if address.lower() in (r.lower() for r in envelope.rcpt_tos):
                found.append(message_from_bytes(envelope.content, policy=policy.default))
        return found

    def link(self, address: str, path: str) -> str:
        """The newest link to ``path`` mailed to ``address`` (text part), as mailed."""
        for mail in reversed(self.mails_to(address)):
            text = mail.get_body(preferencelist=("plain",)).get_content()
            for url in re.findall(r"https?://\S+", text):
                if url.startswith(self.url + path):
                    return url
        raise AssertionError(f"no mail to {address} with a link to {path}")


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (injected through the
    DevTools protocol: the page's own CSP stays on and is not loosened for the test)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    results = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['nodes']}"
        for v in results
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def hosted(
    iam_server: IAMServer, settings: Any, smtp_inbox: Any, browsing: Browsing, artefacts: Path
) -> HostedPages:
    """The hosted pages on the live IAM at ``http://127.0.0.1:<port>``, as ``make run`` serves
    them: mailed links open them (``IAM_FRONTEND_URL`` is the IAM), mail goes to a real SMTP
    server (``smtp_inbox``).
    Sign-in, mail and password-check limits are raised: a journey does each more often than a
    person would in a minute."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run make test-browser (it runs npm ci).", pytrace=False)
    # the default roles come from a data migration, which a transactional test's flush removes
    call_command("sync_roles", stdout=io.StringIO())
    # http://127.0.0.1, as `make run` serves them: a secure context (Web Locks, COOP) without TLS
    url = f"http://127.0.0.1:{iam_server.port}"
    settings.IAM_FRONTEND_URL = url
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    rates.update(
        login_ip="100/min",
        login_account="100/min",
        account_mail="30/hour",
        password_check="100/min",
    )
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    return HostedPages(url, smtp_inbox, browsing, artefacts)
