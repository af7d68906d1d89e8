"""Default HTTP helpers on ``urllib.request``: no dependency beyond the standard library."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_TIMEOUT = 5.0
MAX_BODY = 1 << 20  # a JWKS or a token response is a few KiB; refuse anything absurd
USER_AGENT = "iam-client"
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def check_http_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL, else ValueError (no ``file:`` and friends)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"Not an http(s) URL: {url!r}")
    return url


def max_age(cache_control: str) -> float | None:
    """Seconds from a ``Cache-Control`` header; 0 for ``no-store``/``no-cache``; None if absent."""
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return 0.0
    found = _MAX_AGE.search(cache_control)
    return float(found.group(1)) if found else None


def _json_object(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise ValueError("Response body too large.")
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("Expected a JSON object.")
    return data


def get_json(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[dict[str, Any], float | None]:
    """GET ``url``: the JSON object and the response's ``Cache-Control`` max-age (if any)."""
    request = urllib.request.Request(  # noqa: S310 (http/https only: check_http_url)
        check_http_url(url), headers={"Accept": "application/json", "User-Agent": USER_AGENT}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        body = response.read(MAX_BODY + 1)
        cache_control = response.headers.get("Cache-Control", "")
    return _json_object(body), max_age(cache_control)


def fetch_json(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """GET ``url`` and return its JSON object (the ``http_fetch`` signature)."""
    return get_json(url, timeout=timeout)[0]


def post_form(
    url: str,
    data: dict[str, str],
    headers: dict[str, str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[int, dict[str, Any]]:
    """POST ``data`` form-encoded: ``(status, JSON object)``; HTTP errors are returned, not
    raised (an OAuth error response is an answer). Network errors raise ``OSError``."""
    body = urllib.parse.urlencode(data).encode("ascii")
    request = urllib.request.Request(  # noqa: S310 (http/https only: check_http_url)
        check_http_url(url),
        data=body,
        method="POST",
        headers={
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": USER_AGENT,
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read(MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(MAX_BODY + 1)
        exc.close()
    try:
        return status, _json_object(raw)
    except ValueError:
        return status, {}
