"""The browser-test harness itself: Chromium reaches the IAM and a second origin by their test
host names, the IAM answers with its production middleware, artefacts are written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FETCH = """async (url) => {
    try {
        const response = await fetch(url, {credentials: "include"});
        return {status: response.status, body: await response.json()};
    } catch (error) {
        return {refused: String(error)};
    }
}"""


def test_chromium_reaches_the_iam_by_its_host_name(page: Any, iam_server: Any) -> None:
    response = page.goto(f"{iam_server.url}/healthz")
    assert response.status == 200
    assert page.evaluate("() => JSON.parse(document.body.innerText)")["status"] == "ok"
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-request-id"]


def test_a_static_app_on_another_origin_meets_the_iam_with_cors(
    browsing: Any, iam_server: Any, static_origin: Any, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>app</title><p>app</p>")
    app = static_origin(tmp_path)
    stranger = static_origin(tmp_path, host="stranger.example.test")
    iam_server.allow_origins(app)
    jwks = f"{iam_server.url}/.well-known/jwks.json"

    page = browsing.page()
    page.goto(f"{app}/index.html")
    assert page.title() == "app"
    listed = page.evaluate(FETCH, jwks)
    assert listed["status"] == 200
    assert listed["body"]["keys"]

    other = browsing.page(browsing.context())
    other.goto(f"{stranger}/index.html")
    assert "Failed to fetch" in other.evaluate(FETCH, jwks)["refused"]


def test_a_page_is_saved_with_its_console_log(browsing: Any, artefacts: Path) -> None:
    page = browsing.page()
    page.set_content("<p>saved</p><script>console.warn('from the page')</script>")
    page.wait_for_function("() => document.readyState === 'complete'")
    saved = browsing.save(artefacts)
    assert (artefacts / "context0-page0.png").read_bytes().startswith(b"\x89PNG")
    log = (artefacts / "console.log").read_text()
    assert "context0-page0 warning: from the page" in log
    assert "was at about:blank" in log
    assert len(saved) == 2
