"""Where a social sign-in sends the browser: the allow-listed ``next``, and the front-end pages
(``IAM_FRONTEND_URL`` + the configured paths) with their query parameters."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from iam.core.conf import iam_settings

_FORBIDDEN = frozenset("\\\x7f") | frozenset(chr(c) for c in range(33))  # \, controls, space


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL without user-info, else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def allowed_origins() -> set[str]:
    origins = {_origin(iam_settings.frontend_url)}
    origins.update(_origin(o.strip().rstrip("/")) for o in iam_settings.allowed_redirect_origins)
    origins.discard(None)
    return origins  # type: ignore[return-value]


def safe_next(value: object) -> str | None:
    """``value`` as an absolute URL if it may be redirected to, else None (the caller falls
    back to its default): a path on the front end (``/dashboard``), or an absolute http(s) URL
    of an allowed origin. Refuses scheme-relative (``//evil``), scheme-only (``https:evil``),
    backslashes (``/\\evil``, which browsers read as ``//``), other schemes (``javascript:``,
    ``data:``), user-info, whitespace and control characters."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return None
    if any(ch in _FORBIDDEN for ch in value):
        return None
    if value.startswith("/"):
        if value.startswith("//"):
            return None
        return iam_settings.frontend_url.rstrip("/") + value
    origin = _origin(value)
    if origin is None or origin not in allowed_origins():
        return None
    # the URL must start with its origin as written (no tricks between scheme and path)
    rest = value[len(origin) :] if value.lower().startswith(origin) else None
    if rest is None or (rest and rest[0] not in "/?#"):
        return None
    return value


def default_next() -> str:
    return iam_settings.frontend_url.rstrip("/") + "/"


def frontend_page(path: str, **params: str | None) -> str:
    """``IAM_FRONTEND_URL`` + ``path`` with ``params`` (None left out) added to its query."""
    parts = urlsplit(iam_settings.frontend_url.rstrip("/") + path)
    query = [q for q in [parts.query] if q]
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    if extra:
        query.append(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(query), ""))


def login_page(**params: str | None) -> str:
    return frontend_page(iam_settings.frontend_social_login_path, **params)


def connections_page(**params: str | None) -> str:
    return frontend_page(iam_settings.frontend_social_connections_path, **params)


def with_params(url: str, **params: str | None) -> str:
    parts = urlsplit(url)
    query = [q for q in [parts.query] if q]
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    if extra:
        query.append(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(query), parts.fragment))
