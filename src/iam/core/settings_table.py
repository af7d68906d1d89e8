"""Every setting of the IAM, declared once: its environment variable, type, default and one line
of documentation. The rest is derived from here:

- ``config/settings.py`` reads the environment through these declarations (``from_env``);
- ``iam.core.conf.iam_settings`` is an ``IAMSettings``: each attribute is the Django setting,
  typed (seconds become ``timedelta``s) and cached until a setting changes;
- the README's configuration table is written from them (``manage.py settings_table``; a test
  fails when the README is out of date).

``IAMSettings`` holds what the code reads; ``Environment`` the variables that feed Django's and
third-party settings (``DATABASES``, ``CACHES``, ``MAILERS``, ``CORS_*``, throttle rates ...),
which stay where they are in ``config/settings.py``.

This module is imported while Django's settings are being built: it reads no setting at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

from django.conf import settings

if TYPE_CHECKING:
    from environ import Env

T = TypeVar("T")
_UNSET: Any = object()


@dataclass(eq=False)
class Setting[T]:
    """One setting: ``env`` (the environment variable), ``default`` (as the environment would give
    it; ``dev_default`` with ``DEBUG`` on), ``doc`` (a line for the README). ``name`` is the Django
    setting it is kept in (default: the variable's name); ``shown`` is the default as the README
    shows it, where the value alone would not say it."""

    env: str | None
    default: Any
    doc: str
    name: str = ""
    dev_default: Any = _UNSET
    shown: str | None = None
    attr: str = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        if not self.name:
            self.name = self.env or attr.upper()

    # --- reading the environment (config/settings.py) ---------------------------------------

    def from_env(self, env: Env, *, debug: bool = False) -> Any:
        """The Django setting's value, from the environment."""
        default = self.dev_default if debug and self.dev_default is not _UNSET else self.default
        assert self.env is not None
        return self.parse(env, self.env, default)

    def parse(self, env: Env, var: str, default: Any) -> Any:
        return env.str(var, default=default)

    # --- the typed value (iam_settings) -----------------------------------------------------

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: IAMSettings, owner: type) -> T: ...
    def __get__(self, obj: IAMSettings | None, owner: type) -> Self | T:
        if obj is None:
            return self
        values = obj._values
        try:
            return values[self.attr]
        except KeyError:
            value = values[self.attr] = self.typed(self.raw())
            return value

    def raw(self) -> Any:
        return getattr(settings, self.name)

    def typed(self, raw: Any) -> T:
        return raw

    # --- the README -------------------------------------------------------------------------

    def shown_default(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default in ("", None, []):
            return "unset"
        return f"`{_literal(self.default)}`"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


class Str(Setting[str]):
    def __init__(
        self,
        env: str | None,
        default: str,
        doc: str,
        *,
        clean: Callable[[str], str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, default, doc, **kwargs)
        self.clean = clean

    def parse(self, env: Env, var: str, default: Any) -> Any:
        value = env.str(var, default=default)
        return self.clean(value) if self.clean else value

    def typed(self, raw: Any) -> str:
        return self.clean(raw) if self.clean else raw


class OptionalStr(Setting[str | None]):
    """Unset or empty: ``None``."""

    def parse(self, env: Env, var: str, default: Any) -> Any:
        return env.str(var, default=default or "") or None


class Int(Setting[int]):
    def parse(self, env: Env, var: str, default: Any) -> Any:
        return env.int(var, default=default)


class Bool(Setting[bool]):
    def parse(self, env: Env, var: str, default: Any) -> Any:
        return env.bool(var, default=default)


class Seconds(Setting[timedelta]):
    """Whole seconds in the environment and in the Django setting; a ``timedelta`` to the code."""

    def parse(self, env: Env, var: str, default: Any) -> Any:
        return env.int(var, default=default)

    def typed(self, raw: Any) -> timedelta:
        return timedelta(seconds=raw)


class StrList(Setting[tuple[str, ...]]):
    """Comma-separated in the environment (``strip``: entries trimmed, blank ones dropped); a list
    in the Django setting."""

    def __init__(
        self, env: str | None, default: Any, doc: str, *, strip: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(env, default, doc, **kwargs)
        self.strip = strip

    def parse(self, env: Env, var: str, default: Any) -> Any:
        items = env.list(var, default=default)
        return [item.strip() for item in items if item.strip()] if self.strip else items

    def typed(self, raw: Any) -> tuple[str, ...]:
        return tuple(raw)

    def shown_default(self) -> str:
        return self.shown if self.shown is not None else "empty"


class Rate(Setting[str]):
    """A throttle rate (``5/min``, ``100/hour``) for the DRF scope ``scope``; kept in
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, where DRF and the throttles read it."""

    def __init__(self, env: str, default: str, doc: str, *, scope: str) -> None:
        super().__init__(env, default, doc)
        self.scope = scope

    def raw(self) -> Any:
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(self.scope)  # type: ignore[attr-defined]


class Jwt[V](Setting[V]):
    """Kept in ``SIMPLE_JWT[key]`` and read through SimpleJWT's own settings (its defaults apply
    to keys a test or an operator leaves out)."""

    def __init__(self, env: str, default: Any, doc: str, *, key: str, **kwargs: Any) -> None:
        super().__init__(env, default, doc, **kwargs)
        self.key = key

    def raw(self) -> Any:
        # SimpleJWT reads Django's settings when it is imported: not while they are being built
        from rest_framework_simplejwt.settings import api_settings

        return getattr(api_settings, self.key)


class JwtSeconds(Jwt[timedelta]):
    def parse(self, env: Env, var: str, default: Any) -> Any:
        return timedelta(seconds=env.int(var, default=default))

    def typed(self, raw: Any) -> timedelta:
        return raw if isinstance(raw, timedelta) else timedelta(seconds=raw or 0)


class JwtLeeway(Jwt[timedelta]):
    """Seconds in ``SIMPLE_JWT["LEEWAY"]`` (SimpleJWT takes a number or a timedelta)."""

    def parse(self, env: Env, var: str, default: Any) -> Any:
        return env.int(var, default=default)

    def typed(self, raw: Any) -> timedelta:
        return raw if isinstance(raw, timedelta) else timedelta(seconds=raw or 0)


class PerProvider(Setting[str]):
    """A variable of each generic OpenID Connect provider, ``IAM_SOCIAL_OIDC_<NAME>_<suffix>``
    (read by ``Environment.social_providers``, once per configured name)."""

    def __init__(self, suffix: str, default: str, doc: str, **kwargs: Any) -> None:
        super().__init__(f"IAM_SOCIAL_OIDC_<NAME>_{suffix}", default, doc, **kwargs)
        self.suffix = suffix

    def for_provider(self, env: Env, name: str) -> str:
        var = f"IAM_SOCIAL_OIDC_{name.upper().replace('-', '_')}_{self.suffix}"
        return str(env.str(var, default=self.default))


def _declared(owner: type) -> Iterator[Setting[Any]]:
    for value in vars(owner).values():
        if isinstance(value, Setting):
            yield value


class Environment:
    """Environment variables of Django's and third-party settings, read by ``config/settings.py``
    (and of the few IAM settings it builds others from)."""

    DEBUG = Bool(
        "DEBUG",
        False,
        "development mode. Off: the service refuses to start without `SECRET_KEY`, "
        "`IAM_KEY_ENCRYPTION_KEYS` and `ALLOWED_HOSTS`.",
        shown="`false` (`true` in `make run`'s setup, from `var/dev.env`)",
    )
    SECRET_KEY = Str("SECRET_KEY", "", "Django's secret.", shown="generated into `var/` in dev")
    ALLOWED_HOSTS = StrList(
        "ALLOWED_HOSTS",
        [],
        "comma-separated.",
        dev_default=["127.0.0.1", "localhost", "[::1]"],
        shown="localhost in dev",
    )
    IAM_VAR_DIR = Str(
        "IAM_VAR_DIR",
        "",
        "where the embedded defaults keep their files (SQLite database, dev secrets).",
        shown="`var/`",
    )
    DATABASE_URL = Str(
        "DATABASE_URL",
        "",
        "e.g. `postgres://user:pass@host:5432/iam` (psycopg 3).",
        shown="`sqlite:///var/iam.sqlite3`",
    )
    DATABASE_CONN_MAX_AGE = Int(
        "DATABASE_CONN_MAX_AGE", 60, "seconds a PostgreSQL connection is kept (persistent)."
    )
    DATABASE_CONNECT_TIMEOUT = Int(
        "DATABASE_CONNECT_TIMEOUT",
        5,
        "seconds to wait for a PostgreSQL connection (libpq's connect_timeout; with the pool, "
        "also how long a request waits for a free one) before answering 503.",
    )
    DATABASE_POOL = Bool(
        "DATABASE_POOL",
        False,
        "psycopg's connection pool instead of persistent connections. Either way a connection "
        "the server ended is replaced before a request uses it, without a query per request.",
    )
    DATABASE_HEALTH_CHECK_QUERY = Bool(
        "DATABASE_HEALTH_CHECK_QUERY",
        False,
        "also send Django's `SELECT 1` health check on the first use of a connection in each "
        "request (a round trip per request; the default guard asks the socket instead).",
    )
    DATABASE_PREPARED_STATEMENTS = Bool(
        "DATABASE_PREPARED_STATEMENTS",
        True,
        "bind parameters on the server and prepare a statement once a connection has run it 5 "
        "times (the server then skips parsing and planning it). Set `false` behind a pooler "
        "that cannot carry prepared statements (PgBouncer in transaction mode before 1.21).",
    )
    REDIS_URL = Str(
        "REDIS_URL",
        "",
        "shared cache for rate limits, sign-in delays, mail budgets and the auth state across "
        "processes, e.g. `redis://127.0.0.1:6379/0`. The service keeps serving while it is down "
        '(docs/operations.md, "Redis is unreachable").',
        shown="unset (local-memory cache)",
    )
    CACHE_KEY_PREFIX = Str(
        "CACHE_KEY_PREFIX",
        "iam",
        "prefix of every Redis key and of the auth state's invalidation channel: deployments "
        "sharing one Redis server need different prefixes or databases.",
    )
    EMAIL_URL = Str(
        "EMAIL_URL",
        "consolemail://",
        "`smtp+tls://user:pass@host:587`, `filemail:///path`, … (mapped to Django's `MAILERS`). "
        "With `DEBUG` on, `consolemail://` prints each mail's headers and text as written (not "
        "MIME-encoded); with it off, the checks refuse any mailer that does not deliver "
        "(console, file, memory, dummy: `iam.E008`).",
    )
    DEFAULT_FROM_EMAIL = Str(
        "DEFAULT_FROM_EMAIL", "IAM <no-reply@localhost>", "sender of every mail."
    )
    IAM_TEMPLATE_DIRS = StrList(
        "IAM_TEMPLATE_DIRS",
        [],
        "comma-separated folders searched first for templates; put "
        "`iam/email/<kind>_subject.txt`, `<kind>.txt`, `<kind>.html` there to override a mail, "
        "`iam/ui/<page>.html` (or `iam/ui/includes/text.html`, the error sentences) to override "
        "a hosted page.",
    )
    IAM_STATIC_DIRS = StrList(
        "IAM_STATIC_DIRS",
        [],
        "comma-separated folders searched first for static files (a logo, or a replacement "
        "`iam/ui/ui.css`); the IAM serves them itself (WhiteNoise).",
    )
    IAM_TASKS_BACKEND = Str(
        "IAM_TASKS_BACKEND",
        "database",
        "`database` (tasks stored with the change that asks for them, run by "
        "`manage.py db_worker`) or `immediate` (run in the request; tests and `make run`).",
    )
    STATIC_ROOT = Str(
        "STATIC_ROOT",
        "",
        "optional: where `collectstatic` puts compressed copies of the static files, which "
        "WhiteNoise then prefers; without it they are served from the apps as they are.",
    )
    CORS_ALLOWED_ORIGINS = StrList(
        "CORS_ALLOWED_ORIGINS",
        [],
        "comma-separated origins of browser apps on other origins "
        "(`https://app.example.com`); they may call the API with cookies, read the "
        "`X-CSRFToken` response header, and are trusted for CSRF. Never `*` (`iam.E009`); "
        "`http://` origins are a warning with `DEBUG` off (`iam.W003`). Cookies work only for "
        "apps on the IAM's own site (see the SPA recipe above).",
    )
    CSRF_TRUSTED_ORIGINS = StrList(
        "CSRF_TRUSTED_ORIGINS",
        [],
        "origins allowed to make cookie-authenticated unsafe requests cross-origin.",
    )
    SECURE_SSL_REDIRECT = Bool(
        "SECURE_SSL_REDIRECT",
        True,
        "plain-HTTP requests are redirected to https (not `/healthz`, `/readyz`, `/metrics`).",
        dev_default=False,
        shown="on with `DEBUG` off",
    )
    USE_X_FORWARDED_PROTO = Bool(
        "USE_X_FORWARDED_PROTO",
        False,
        "trust `X-Forwarded-Proto: https` from the proxy that ends TLS.",
    )
    SECURE_HSTS_SECONDS = Int(
        "SECURE_HSTS_SECONDS",
        31536000,
        "`Strict-Transport-Security` max-age.",
        dev_default=0,
        shown="`31536000` (`0` with `DEBUG`)",
    )
    SECURE_HSTS_INCLUDE_SUBDOMAINS = Bool(
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", True, "HSTS for every subdomain too."
    )
    SECURE_HSTS_PRELOAD = Bool(
        "SECURE_HSTS_PRELOAD",
        True,
        "HSTS `preload`.",
        dev_default=False,
        shown="on with `DEBUG` off",
    )
    DATA_UPLOAD_MAX_MEMORY_SIZE = Int(
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
        64 * 1024,
        "largest request body in bytes (larger: 413 `request_too_large`).",
    )
    LOG_FORMAT = Str(
        "LOG_FORMAT",
        "json",
        "one JSON object per log line, each with `request_id` (also returned as "
        "`X-Request-ID`); `plain` for text.",
        dev_default="plain",
        shown="`json` (`plain` with `DEBUG`)",
    )
    LOG_LEVEL = Str("LOG_LEVEL", "INFO", "the root logger's level.")
    # --- rate limits (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]) ------------------------------
    IAM_THROTTLE_ANON = Rate(
        "IAM_THROTTLE_ANON", "100/hour", "API requests without credentials per client IP.",
        scope="anon",
    )  # fmt: skip
    IAM_THROTTLE_USER = Rate(
        "IAM_THROTTLE_USER", "1000/hour", "API requests per signed-in user.", scope="user"
    )
    IAM_THROTTLE_REFRESH_SESSION = Rate(
        "IAM_THROTTLE_REFRESH_SESSION", "10/min", "refreshes per device session.",
        scope="refresh_session",
    )  # fmt: skip
    IAM_THROTTLE_LOGIN_IP = Rate(
        "IAM_THROTTLE_LOGIN_IP", "5/min", "logins per client IP.", scope="login_ip"
    )
    IAM_THROTTLE_LOGIN_ACCOUNT = Rate(
        "IAM_THROTTLE_LOGIN_ACCOUNT", "5/min", "logins per account.", scope="login_account"
    )
    IAM_THROTTLE_ACCOUNT_MAIL = Rate(
        "IAM_THROTTLE_ACCOUNT_MAIL", "3/hour",
        "mails an anonymous caller can trigger (register, resend, reset) per address and "
        "client IP.",
        scope="account_mail",
    )  # fmt: skip
    IAM_THROTTLE_REGISTER_IP = Rate(
        "IAM_THROTTLE_REGISTER_IP", "10/hour", "registrations per client IP.", scope="register_ip"
    )
    IAM_THROTTLE_PASSWORD_CHECK = Rate(
        "IAM_THROTTLE_PASSWORD_CHECK", "5/min",
        "current-password checks per signed-in user (password change, deletion, MFA changes).",
        scope="password_check",
    )  # fmt: skip
    IAM_THROTTLE_OAUTH_IP = Rate(
        "IAM_THROTTLE_OAUTH_IP", "120/min", "OAuth endpoint requests per client IP.",
        scope="oauth_ip",
    )  # fmt: skip
    IAM_THROTTLE_MFA_CODE = Rate(
        "IAM_THROTTLE_MFA_CODE", "5/min",
        "wrong second-factor codes per user (login, disable, backup-code regeneration, admin "
        "login).",
        scope="mfa_code",
    )  # fmt: skip

    # --- social sign-in providers (read into IAM_SOCIAL_PROVIDERS) ---------------------------
    IAM_SOCIAL_GOOGLE_CLIENT_ID = Str(
        "IAM_SOCIAL_GOOGLE_CLIENT_ID", "",
        "Google sign-in (OpenID Connect); offered only with `IAM_SOCIAL_GOOGLE_CLIENT_SECRET`.",
    )  # fmt: skip
    IAM_SOCIAL_GOOGLE_CLIENT_SECRET = Str(
        "IAM_SOCIAL_GOOGLE_CLIENT_SECRET", "", "the Google client's secret."
    )
    IAM_SOCIAL_GOOGLE_HOSTED_DOMAINS = StrList(
        "IAM_SOCIAL_GOOGLE_HOSTED_DOMAINS", [],
        "Google Workspace domains whose accounts may sign in (the `hd` claim); empty: any "
        "Google account.",
        strip=True,
    )  # fmt: skip
    IAM_SOCIAL_GOOGLE_AUTO_LINK = Bool(
        "IAM_SOCIAL_GOOGLE_AUTO_LINK", False,
        "link a first sign-in to the account with the same address without asking its owner, "
        "when both sides verified it and it is written alike (ASCII case aside; also "
        "`_GITHUB_`, `_MICROSOFT_`, `_OIDC_<NAME>_`).",
    )  # fmt: skip
    IAM_SOCIAL_GITHUB_CLIENT_ID = Str(
        "IAM_SOCIAL_GITHUB_CLIENT_ID", "",
        "GitHub sign-in (an OAuth app; its primary verified address, scope `user:email`).",
    )  # fmt: skip
    IAM_SOCIAL_GITHUB_CLIENT_SECRET = Str(
        "IAM_SOCIAL_GITHUB_CLIENT_SECRET", "", "the GitHub OAuth app's secret."
    )
    IAM_SOCIAL_GITHUB_AUTO_LINK = Bool("IAM_SOCIAL_GITHUB_AUTO_LINK", False, "as for Google.")
    IAM_SOCIAL_MICROSOFT_CLIENT_ID = Str(
        "IAM_SOCIAL_MICROSOFT_CLIENT_ID", "",
        "Microsoft Entra ID sign-in (OpenID Connect, v2.0 endpoints; addresses count as "
        "verified only with the optional claim `xms_edov`).",
    )  # fmt: skip
    IAM_SOCIAL_MICROSOFT_CLIENT_SECRET = Str(
        "IAM_SOCIAL_MICROSOFT_CLIENT_SECRET", "", "the Entra app registration's secret."
    )
    IAM_SOCIAL_MICROSOFT_TENANT = Str(
        "IAM_SOCIAL_MICROSOFT_TENANT", "common",
        "`common` (work, school and personal accounts), `organizations`, `consumers`, or one "
        "directory's tenant id.",
    )  # fmt: skip
    IAM_SOCIAL_MICROSOFT_AUTO_LINK = Bool("IAM_SOCIAL_MICROSOFT_AUTO_LINK", False, "as for Google.")
    IAM_SOCIAL_OIDC_PROVIDERS = StrList(
        "IAM_SOCIAL_OIDC_PROVIDERS", [],
        "names (lower-case letters, digits, `-`) of generic OpenID Connect providers, each "
        "configured by the `IAM_SOCIAL_OIDC_<NAME>_*` variables (`<NAME>` upper-cased, `-` as "
        "`_`).",
        strip=True,
    )  # fmt: skip
    IAM_SOCIAL_OIDC_NAME_ISSUER = PerProvider(
        "ISSUER", "", "the provider's issuer (discovery; ID tokens must carry exactly it)."
    )
    IAM_SOCIAL_OIDC_NAME_CLIENT_ID = PerProvider("CLIENT_ID", "", "the client's id.")
    IAM_SOCIAL_OIDC_NAME_CLIENT_SECRET = PerProvider("CLIENT_SECRET", "", "the client's secret.")
    IAM_SOCIAL_OIDC_NAME_SCOPES = PerProvider(
        "SCOPES", "openid,email,profile", "the scopes asked for (comma-separated)."
    )
    IAM_SOCIAL_OIDC_NAME_DISPLAY_NAME = PerProvider(
        "DISPLAY_NAME", "", "the name on its button.", shown="the name"
    )
    IAM_SOCIAL_OIDC_NAME_AUTO_LINK = PerProvider("AUTO_LINK", "false", "as for Google.")

    @classmethod
    def declared(cls) -> list[Setting[Any]]:
        return list(_declared(cls))

    @classmethod
    def social_providers(cls, env: Env) -> list[dict[str, Any]]:
        """The social sign-in providers the environment configures (``IAM_SOCIAL_PROVIDERS``)."""
        found: list[dict[str, Any]] = []
        if cls.IAM_SOCIAL_GOOGLE_CLIENT_ID.from_env(env):
            found.append(
                {
                    "name": "google",
                    "kind": "google",
                    "client_id": cls.IAM_SOCIAL_GOOGLE_CLIENT_ID.from_env(env),
                    "client_secret": cls.IAM_SOCIAL_GOOGLE_CLIENT_SECRET.from_env(env),
                    "hosted_domains": cls.IAM_SOCIAL_GOOGLE_HOSTED_DOMAINS.from_env(env),
                    "auto_link": cls.IAM_SOCIAL_GOOGLE_AUTO_LINK.from_env(env),
                }
            )
        if cls.IAM_SOCIAL_GITHUB_CLIENT_ID.from_env(env):
            found.append(
                {
                    "name": "github",
                    "kind": "github",
                    "client_id": cls.IAM_SOCIAL_GITHUB_CLIENT_ID.from_env(env),
                    "client_secret": cls.IAM_SOCIAL_GITHUB_CLIENT_SECRET.from_env(env),
                    "auto_link": cls.IAM_SOCIAL_GITHUB_AUTO_LINK.from_env(env),
                }
            )
        if cls.IAM_SOCIAL_MICROSOFT_CLIENT_ID.from_env(env):
            found.append(
                {
                    "name": "microsoft",
                    "kind": "microsoft",
                    "client_id": cls.IAM_SOCIAL_MICROSOFT_CLIENT_ID.from_env(env),
                    "client_secret": cls.IAM_SOCIAL_MICROSOFT_CLIENT_SECRET.from_env(env),
                    "tenant": cls.IAM_SOCIAL_MICROSOFT_TENANT.from_env(env),
                    "auto_link": cls.IAM_SOCIAL_MICROSOFT_AUTO_LINK.from_env(env),
                }
            )
        for name in cls.IAM_SOCIAL_OIDC_PROVIDERS.from_env(env):
            name = name.lower()
            client_id = cls.IAM_SOCIAL_OIDC_NAME_CLIENT_ID.for_provider(env, name)
            if not client_id:
                continue
            scopes = cls.IAM_SOCIAL_OIDC_NAME_SCOPES.for_provider(env, name)
            found.append(
                {
                    "name": name,
                    "kind": "oidc",
                    "issuer": cls.IAM_SOCIAL_OIDC_NAME_ISSUER.for_provider(env, name).rstrip("/"),
                    "client_id": client_id,
                    "client_secret": cls.IAM_SOCIAL_OIDC_NAME_CLIENT_SECRET.for_provider(env, name),
                    "display_name": cls.IAM_SOCIAL_OIDC_NAME_DISPLAY_NAME.for_provider(env, name)
                    or name.title(),
                    "scopes": [x.strip() for x in scopes.split(",") if x.strip()],
                    "auto_link": cls.IAM_SOCIAL_OIDC_NAME_AUTO_LINK.for_provider(env, name).lower()
                    in ("1", "true", "yes", "on"),
                }
            )
        return found

    @classmethod
    def throttle_rates(cls, env: Env) -> dict[str, str]:
        """``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``."""
        return {s.scope: s.from_env(env) for s in _declared(cls) if isinstance(s, Rate)}


def _base_domain(value: str) -> str:
    return value.strip(".").lower()


def _no_trailing_slash(value: str) -> str:
    return value.rstrip("/")


class SocialProviders(Setting[tuple[dict[str, Any], ...]]):
    """``IAM_SOCIAL_PROVIDERS``: built from the ``IAM_SOCIAL_*`` variables of ``Environment``."""

    def from_env(self, env: Env, *, debug: bool = False) -> Any:
        return Environment.social_providers(env)

    def typed(self, raw: Any) -> tuple[dict[str, Any], ...]:
        return tuple(dict(p) for p in raw)


class IAMSettings:
    """The IAM's own settings, typed: ``iam_settings.<name>`` (``iam.core.conf``). Each is a Django
    setting read from its environment variable (``IAM_…``); JWT settings live in ``SIMPLE_JWT``."""

    # --- tokens (SIMPLE_JWT) ----------------------------------------------------------------
    issuer = Jwt[str](
        "IAM_ISSUER", "http://127.0.0.1:8000",
        "the `iss` claim and the base of every published URL.", key="ISSUER",
    )  # fmt: skip
    audience = Jwt[str]("IAM_AUDIENCE", "iam-api", "the `aud` of access tokens.", key="AUDIENCE")
    access_lifetime = JwtSeconds(
        "IAM_ACCESS_TOKEN_LIFETIME", 15 * 60, "seconds.", key="ACCESS_TOKEN_LIFETIME"
    )
    refresh_lifetime = JwtSeconds(
        "IAM_REFRESH_TOKEN_LIFETIME", 7 * 24 * 3600,
        "seconds of inactivity after which a session ends.", key="REFRESH_TOKEN_LIFETIME",
    )  # fmt: skip
    leeway = JwtLeeway(
        "IAM_TOKEN_LEEWAY_SECONDS", 10, "clock skew allowed on `exp`/`iat`.", key="LEEWAY"
    )
    # --- sessions and cookies ---------------------------------------------------------------
    session_absolute_lifetime = Seconds(
        "IAM_SESSION_ABSOLUTE_LIFETIME", 30 * 24 * 3600,
        "seconds after sign-in when a session ends regardless.",
    )  # fmt: skip
    refresh_grace = Seconds(
        "IAM_REFRESH_GRACE_SECONDS", 5,
        "a second use of the just-replaced refresh token within this window gets an access "
        "token, not a theft alarm.",
    )  # fmt: skip
    session_retention = Seconds(
        "IAM_SESSION_RETENTION", 7 * 24 * 3600,
        "how long ended sessions are kept before `cleanup_sessions` deletes them.",
    )  # fmt: skip
    audit_retention = Seconds(
        "IAM_AUDIT_RETENTION", 365 * 24 * 3600,
        "how long audit events (the security log) are kept before `cleanup_audit` deletes them; "
        "0 keeps them forever.",
    )  # fmt: skip
    auth_state_cache = Str(
        "IAM_AUTH_STATE_CACHE", "auto",
        "keep \"is this session live, who is its user\" in the shared cache: `auto` (only with "
        "`REDIS_URL`), `on`, `off`.",
    )  # fmt: skip
    cookie_secure = Bool(
        "IAM_COOKIE_SECURE", True,
        "set `false` only for plain-HTTP development (refused with `DEBUG` off).",
    )  # fmt: skip
    access_cookie_name = Str("IAM_ACCESS_COOKIE_NAME", "access_token", "the access cookie's name.")
    refresh_cookie_name = Str(
        "IAM_REFRESH_COOKIE_NAME", "refresh_token", "the refresh cookie's name."
    )
    refresh_cookie_path = Str("IAM_REFRESH_COOKIE_PATH", "/api/auth/", "the refresh cookie's path.")
    cookie_domain = OptionalStr(
        "IAM_COOKIE_DOMAIN", "",
        "scope of the token cookies: unset, they belong to the IAM's host; `example.com` shares "
        "them with every host of the domain (it must cover the IAM's host, `iam.E011`). The "
        "`csrftoken` cookie stays on the IAM's host either way (apps read the token from the "
        "`X-CSRFToken` header).",
    )  # fmt: skip
    # --- keys -------------------------------------------------------------------------------
    key_encryption_keys = StrList(
        "IAM_KEY_ENCRYPTION_KEYS", [],
        "comma-separated Fernet keys; the first encrypts private keys at rest, all decrypt "
        "(prepend a new one to rotate).",
        shown="generated into `var/` in dev",
    )  # fmt: skip
    signing_key_size = Int("IAM_SIGNING_KEY_SIZE", 2048, "RSA modulus bits for new keys (≥ 2048).")
    jwks_max_age = Int(
        "IAM_JWKS_MAX_AGE", 300, "`Cache-Control` max-age of the JWKS and discovery documents."
    )
    key_cache_seconds = Int(
        "IAM_KEY_CACHE_SECONDS", 60, "how often a process reloads the key ring from the database."
    )
    token_cache_size = Int(
        "IAM_TOKEN_CACHE_SIZE", 10_000, "verified access tokens each process remembers."
    )
    dev_mode = Bool(
        None, False, "on with `DEBUG`: the first signing key is made on demand.",
        name="IAM_DEV_MODE",
    )  # fmt: skip
    # --- clients and proxies ----------------------------------------------------------------
    trusted_proxy_count = Int(
        "IAM_TRUSTED_PROXY_COUNT", 0,
        "how many reverse proxies append to `X-Forwarded-For`; 0 = use the socket address.",
    )  # fmt: skip
    # --- accounts, passwords and mails ------------------------------------------------------
    require_email_verification = Bool(
        "IAM_REQUIRE_EMAIL_VERIFICATION", True,
        "unverified accounts get 403 `email_not_verified` at login.",
    )  # fmt: skip
    argon2_time_cost = Int("IAM_ARGON2_TIME_COST", 2, "Argon2id iterations (OWASP floor: 2).")
    argon2_memory_cost_kib = Int(
        "IAM_ARGON2_MEMORY_COST_KIB", 19456, "Argon2id memory in KiB (OWASP floor: 19456)."
    )
    argon2_parallelism = Int(
        "IAM_ARGON2_PARALLELISM", 1,
        "Argon2id lanes (OWASP floor: 1); lower cost is a startup error.",
    )  # fmt: skip
    password_min_length = Int("IAM_PASSWORD_MIN_LENGTH", 12, "shortest password accepted.")
    password_max_length = Int(
        "IAM_PASSWORD_MAX_LENGTH", 1024, "longest password accepted (between 64 and 4096)."
    )
    password_min_score = Int(
        "IAM_PASSWORD_MIN_SCORE", 3,
        "the lowest zxcvbn strength score (0-4) a new password may have: 3 is about 10^10 "
        "guesses; `0` turns the estimate off; outside 0-4 is a startup error (`iam.E012`).",
    )  # fmt: skip
    product_name = Str("IAM_PRODUCT_NAME", "IAM", "product name in mails and on the hosted pages.")
    frontend_url = Str(
        "IAM_FRONTEND_URL", "",
        "base of every link in mails (never taken from the request's `Host`): by default the "
        "IAM's own hosted pages.",
        clean=_no_trailing_slash,
        shown="`IAM_ISSUER` while the hosted pages are on; unset when off (`iam_ui.E001`)",
    )  # fmt: skip
    frontend_verify_email_path = Str(
        "IAM_FRONTEND_VERIFY_EMAIL_PATH", "/verify-email?token={token}",
        "the front-end page a verification link opens; it posts the token to the API.",
    )  # fmt: skip
    frontend_password_reset_path = Str(
        "IAM_FRONTEND_PASSWORD_RESET_PATH", "/reset-password?token={token}",
        "the front-end page a reset link opens; it posts the token to the API.",
    )  # fmt: skip
    email_verification_ttl = Seconds(
        "IAM_EMAIL_VERIFICATION_TTL", 24 * 3600, "seconds a verification link works."
    )
    password_reset_ttl = Seconds("IAM_PASSWORD_RESET_TTL", 3600, "seconds a reset link works.")
    mail_max_attempts = Int("IAM_MAIL_MAX_ATTEMPTS", 5, "attempts per mail.")
    mail_retry_delay = Seconds(
        "IAM_MAIL_RETRY_DELAY", 30, "the first retry delay of a mail in seconds (doubling)."
    )
    mail_budget = Int(
        "IAM_MAIL_BUDGET_PER_ADDRESS", 10,
        "account mails per recipient address and hour, whoever asks (over it they are dropped "
        "and audited).",
    )  # fmt: skip
    mail_budget_unsolicited = Int(
        "IAM_MAIL_BUDGET_UNSOLICITED", 3,
        "of those, mails to an address the requester has not shown to own.",
    )  # fmt: skip
    notify_new_device = Bool(
        "IAM_NOTIFY_NEW_DEVICE", True, "mail a notice of a sign-in from a new device."
    )
    notify_password_change = Bool(
        "IAM_NOTIFY_PASSWORD_CHANGE", True, "mail a notice of a password change or reset."
    )
    notify_mfa_change = Bool("IAM_NOTIFY_MFA_CHANGE", True, "mail a notice of MFA changes.")
    # --- the hosted pages (iam.ui) ---------------------------------------------------------
    ui_enabled = Bool(
        "IAM_UI_ENABLED", True,
        "the hosted sign-in pages and account console at `/` (`/sign-in`, `/account`, …); "
        "`false` for an API-only IAM (the pages answer 404).",
    )  # fmt: skip
    ui_logo_url = Str(
        "IAM_UI_LOGO_URL", "",
        "the pages' logo: a path on the IAM (e.g. from `IAM_STATIC_DIRS`) or a `data:image/` "
        "URI (`iam_ui.E003`).",
        shown="the product name",
    )  # fmt: skip
    ui_color_primary = Str(
        "IAM_UI_COLOR_PRIMARY", "#1d4ed8",
        "the pages' accent colour, `#rgb`/`#rrggbb` (`iam_ui.E002`); the text on it is chosen "
        "for contrast; under 4.5:1 against white is `iam_ui.W001`.",
    )  # fmt: skip
    ui_color_background = Str(
        "IAM_UI_COLOR_BACKGROUND", "#f3f4f6",
        "the pages' background colour, `#rgb`/`#rrggbb` (`iam_ui.E002`).",
    )  # fmt: skip
    ui_api_url = Str(
        "IAM_UI_API_URL", "",
        "the origin of the IAM API the pages call when they are served from another origin "
        "(added to their `connect-src`; an origin only, `iam_ui.E004`).",
        clean=_no_trailing_slash,
        shown="unset (same origin)",
    )  # fmt: skip
    # --- sign-in delays ---------------------------------------------------------------------
    lockout_free_attempts = Int(
        "IAM_LOCKOUT_FREE_ATTEMPTS", 5, "wrong passwords per account before sign-in delays start."
    )
    lockout_ip_free_attempts = Int(
        "IAM_LOCKOUT_IP_FREE_ATTEMPTS", 20,
        "wrong passwords per client IP before sign-in delays start.",
    )  # fmt: skip
    lockout_base_delay = Int(
        "IAM_LOCKOUT_BASE_DELAY", 30, "first sign-in delay in seconds (doubling per failure)."
    )
    lockout_max_delay = Int("IAM_LOCKOUT_MAX_DELAY", 15 * 60, "longest sign-in delay in seconds.")
    lockout_window = Int(
        "IAM_LOCKOUT_WINDOW", 24 * 3600,
        "seconds failures are remembered after the last one.",
    )  # fmt: skip
    # --- two-factor authentication ----------------------------------------------------------
    mfa_totp_issuer = Str(
        "IAM_MFA_TOTP_ISSUER", "", "issuer name shown in authenticator apps.",
        shown="`IAM_PRODUCT_NAME`",
    )  # fmt: skip
    mfa_token_ttl = Seconds("IAM_MFA_TOKEN_TTL", 300, "lifetime of a login's `mfa_token`.")
    mfa_token_max_attempts = Int(
        "IAM_MFA_TOKEN_MAX_ATTEMPTS", 5, "wrong codes before a login's `mfa_token` dies."
    )
    mfa_revoke_other_sessions = Bool(
        "IAM_MFA_REVOKE_OTHER_SESSIONS", True,
        "turning MFA on or off (or an operator reset) ends the user's other sessions.",
    )  # fmt: skip
    mfa_reauth_age = Seconds(
        "IAM_MFA_REAUTH_AGE", 300,
        "a session signed in longer ago than this must give the password to start an "
        "authenticator setup.",
    )  # fmt: skip
    mfa_free_failures = Int(
        "IAM_MFA_FREE_FAILURES", 10,
        "wrong second-factor codes in a row before each further one delays the next attempt "
        "(30 s doubling).",
    )  # fmt: skip
    mfa_max_delay = Int("IAM_MFA_MAX_DELAY", 3600, "longest wrong-code delay in seconds.")
    # --- tenants ----------------------------------------------------------------------------
    tenant_base_domain = Str(
        "IAM_TENANT_BASE_DOMAIN", "",
        "with e.g. `login.example.com`, `acme.login.example.com` selects tenant `acme` at "
        "sign-in.",
        clean=_base_domain,
    )  # fmt: skip
    invitation_ttl = Seconds(
        "IAM_INVITATION_TTL", 7 * 24 * 3600, "seconds a tenant invitation link works."
    )
    frontend_invitation_path = Str(
        "IAM_FRONTEND_INVITATION_PATH", "/invitations/accept?token={token}",
        "the front-end page an invitation link opens.",
    )  # fmt: skip
    # --- social sign-in (iam.social) -------------------------------------------------------
    social_providers = SocialProviders(
        None, [], "the enabled providers (from the IAM_SOCIAL_* variables)",
        name="IAM_SOCIAL_PROVIDERS",
    )  # fmt: skip
    allowed_redirect_origins = StrList(
        "IAM_ALLOWED_REDIRECT_ORIGINS", [],
        "origins (besides `IAM_FRONTEND_URL`'s) a sign-in's `next` may send the browser to.",
        strip=True,
    )  # fmt: skip
    frontend_social_login_path = Str(
        "IAM_FRONTEND_SOCIAL_LOGIN_PATH", "/sign-in",
        "the front-end sign-in page a social sign-in redirects to (second step, link "
        "confirmation, errors).",
    )  # fmt: skip
    frontend_social_connections_path = Str(
        "IAM_FRONTEND_SOCIAL_CONNECTIONS_PATH", "/account/connections",
        "the front-end page a connect (linking another identity) returns to.",
    )  # fmt: skip
    social_state_ttl = Seconds(
        "IAM_SOCIAL_STATE_TTL", 600, "seconds a social sign-in may take at the provider."
    )
    social_link_ttl = Seconds("IAM_SOCIAL_LINK_TTL", 900, "seconds a pending link lives.")
    social_http_timeout = Int(
        "IAM_SOCIAL_HTTP_TIMEOUT", 5, "seconds a call to an identity provider may take."
    )
    # --- service clients --------------------------------------------------------------------
    service_token_lifetime = Seconds(
        "IAM_SERVICE_TOKEN_LIFETIME", 15 * 60, "client-credentials token lifetime in seconds."
    )
    # --- metrics ----------------------------------------------------------------------------
    metrics_enabled = Bool(
        "IAM_METRICS_ENABLED", True,
        "serve Prometheus metrics at `/metrics` (`PROMETHEUS_MULTIPROC_DIR` for several "
        "workers).",
    )  # fmt: skip
    metrics_allowed_ips = StrList(
        "IAM_METRICS_ALLOWED_IPS", [],
        "networks that may read `/metrics`; everyone else, by default everyone, gets a 404.",
        strip=True,
    )  # fmt: skip
    metrics_token = Str(
        "IAM_METRICS_TOKEN", "", "or a bearer of this token (`Authorization: Bearer <token>`)."
    )

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    @classmethod
    def declared(cls) -> list[Setting[Any]]:
        return list(_declared(cls))

    def reset(self) -> None:
        """Forget the cached values (a setting changed)."""
        self._values.clear()


def every_setting() -> list[Setting[Any]]:
    """Every declared setting, in the README's order."""
    return [*Environment.declared(), *IAMSettings.declared()]


def readme_table() -> str:
    """The README's configuration table (``manage.py settings_table``)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in every_setting():
        if setting.env is None:
            continue
        lines.append(f"| `{setting.env}` | {setting.shown_default()} | {setting.doc} |")
    return "\n".join(lines) + "\n"
