"""The one settings module. Everything configurable is read from the environment here, through
the declarations of ``iam.core.settings_table`` (each variable's type, default and documentation
are written there once; the README's table is made from them).

Defaults give a working embedded setup (SQLite under ``var/``, local-memory cache, console e-mail).
With ``DEBUG`` off the service refuses to start without its secrets and allowed hosts.
"""

import logging
import os
from pathlib import Path

import environ
from corsheaders.defaults import default_headers
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from iam.core.db import PREPARE_THRESHOLD, pool_check
from iam.core.settings_table import Environment, IAMSettings, Jwt, Setting

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(Environment.IAM_VAR_DIR.from_env(env) or BASE_DIR / "var")
# `make run` marks var/ as the embedded development setup: var/dev.env holds the settings it runs
# with (DEBUG on, its issuer, ...), so that manage.py commands typed in another terminal work as
# the README prints them. Never for a deployment: the file is not read when the environment sets
# DEBUG (DEBUG=false always wins) or DATABASE_URL (every production setup names its database),
# and the environment's own values win over the file's.
DEV_ENV_FILE = VAR_DIR / "dev.env"
if not {"DEBUG", "DATABASE_URL"} & os.environ.keys() and DEV_ENV_FILE.is_file():
    environ.Env.read_env(DEV_ENV_FILE, overwrite=False)
DEBUG = Environment.DEBUG.from_env(env)


def _env(setting: Setting) -> object:
    """The setting's value from the environment (its default with DEBUG as it is)."""
    return setting.from_env(env, debug=DEBUG)


_log = logging.getLogger("iam.settings")


def _dev_secret(name: str, make: callable) -> str:
    """Read a dev-only secret from var/, creating it on first use. Never used with DEBUG off."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
        _log.warning(
            "DEBUG mode: generated a development %s in %s; never use it in production.", name, path
        )
    return path.read_text().strip()


def _required(setting: Setting, dev_file: str, make: callable) -> str:
    value = env.str(setting.env, default="")
    if value:
        return value
    if DEBUG:
        return _dev_secret(dev_file, make)
    raise ImproperlyConfigured(f"{setting.env} must be set when DEBUG is off.")


SECRET_KEY = _required(
    Environment.SECRET_KEY, "secret_key", lambda: Fernet.generate_key().decode() * 2
)
# Fernet keys (comma-separated; the first encrypts, all decrypt) wrapping private keys at rest.
IAM_KEY_ENCRYPTION_KEYS = _required(
    IAMSettings.key_encryption_keys, "key_encryption_key", lambda: Fernet.generate_key().decode()
).split(",")

ALLOWED_HOSTS = _env(Environment.ALLOWED_HOSTS)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

INSTALLED_APPS = [
    "iam.mfa.admin_apps.IAMAdminConfig",  # django.contrib.admin with a second factor at login
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "iam.core",
    "iam.accounts",
    "iam.audit",
    "iam.tokens",
    "iam.sessions",
    "iam.authn",
    "iam.tenancy",
    "iam.oauth",
    "iam.mfa",
    "iam.social",
    "iam.ui",
    "django_tasks_db",
]

MIDDLEWARE = [
    "iam.core.logging.RequestIdMiddleware",
    "iam.core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # static files (the hosted pages' scripts and styles, the admin's, the API docs') served by
    # the IAM itself, with caching headers, in every mode: no separate web server needed
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "iam.core.csp.ContentSecurityPolicyMiddleware",  # Django's, a policy without nonce built once
    "iam.core.cors.CorsMiddleware",  # django-cors-headers, reading a missing Origin from META
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "iam.tenancy.middleware.TenantMiddleware",
    "iam.core.messages.MessageMiddleware",  # Django's, the store made on first use
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Operators override mail templates (iam/email/*.txt|html) and the hosted pages
        # (iam/ui/*.html) by putting theirs here.
        "DIRS": _env(Environment.IAM_TEMPLATE_DIRS),
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url(
        Environment.DATABASE_URL.env, default=f"sqlite:///{VAR_DIR / 'iam.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Dead connections are caught without a round trip per request: before each request a
    # persistent connection the server has ended (its socket has something to read) is closed
    # and reopened on use (iam.core.db). Django's CONN_HEALTH_CHECKS would send a SELECT 1 per
    # request instead; DATABASE_HEALTH_CHECK_QUERY=true turns it back on.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = _env(Environment.DATABASE_HEALTH_CHECK_QUERY)
    # A database that does not answer is a quick 503 (iam.core.errors), not a request that hangs.
    _connect_timeout = _env(Environment.DATABASE_CONNECT_TIMEOUT)
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", _connect_timeout)
    if _env(Environment.DATABASE_PREPARED_STATEMENTS):
        # Parameters bound by the server, and a statement run often enough prepared on its
        # connection: the refresh's one statement and the sign-in's reads are then neither
        # parsed nor planned again (Django's default binds on the client and never prepares).
        _db_options.setdefault("server_side_binding", True)
        _db_options.setdefault("prepare_threshold", PREPARE_THRESHOLD)
    if _env(Environment.DATABASE_POOL):
        # psycopg 3 connection pool (Django >= 5.1); exclusive with persistent connections. A
        # connection is checked the same way when the pool hands it out.
        _pool: dict = {"timeout": _connect_timeout}
        if not DATABASES["default"]["CONN_HEALTH_CHECKS"]:
            _pool["check"] = pool_check
        _db_options["pool"] = _pool
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = _env(Environment.DATABASE_CONN_MAX_AGE)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache ----------------------------------------------------------------------------------
REDIS_URL = _env(Environment.REDIS_URL)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": _env(Environment.CACHE_KEY_PREFIX),
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
else:
    # Per process. Rate limits and sign-in delays live here too: room enough that a flood of new
    # keys cannot evict a running delay (production runs with REDIS_URL).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# --- e-mail ---------------------------------------------------------------------------------
# EMAIL_URL (smtp://user:pass@host:587?tls=true, consolemail://, filemail:///path, memorymail://)
# is parsed by django-environ and mapped onto Django 6.1's MAILERS (EMAIL_* are deprecated).
_mail = env.email_url(Environment.EMAIL_URL.env, default=Environment.EMAIL_URL.default)
_mail_options = {
    option: _mail[name]
    for name, option in {
        "EMAIL_HOST": "host",
        "EMAIL_PORT": "port",
        "EMAIL_HOST_USER": "username",
        "EMAIL_HOST_PASSWORD": "password",
        "EMAIL_USE_TLS": "use_tls",
        "EMAIL_USE_SSL": "use_ssl",
        "EMAIL_TIMEOUT": "timeout",
    }.items()
    if _mail.get(name) not in (None, "")
}
if _mail["EMAIL_BACKEND"].endswith("smtp.EmailBackend"):
    _mail_options.setdefault("timeout", 10)
if _mail["EMAIL_BACKEND"].endswith("filebased.EmailBackend"):
    _mail_options = {"file_path": _mail["EMAIL_FILE_PATH"]}
elif not _mail["EMAIL_BACKEND"].endswith("smtp.EmailBackend"):
    _mail_options = {}
if DEBUG and _mail["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    # mails as written, not quoted-printable: a developer copies tokens from them (without
    # DEBUG, Django's own console mailer stays, and the checks refuse it: mail.E001, iam.E008)
    _mail["EMAIL_BACKEND"] = "iam.core.mail_console.ReadableConsoleBackend"
MAILERS = {"default": {"BACKEND": _mail["EMAIL_BACKEND"], "OPTIONS": _mail_options}}
DEFAULT_FROM_EMAIL = _env(Environment.DEFAULT_FROM_EMAIL)

# --- background tasks (django.tasks) --------------------------------------------------------
# Mail is sent by a task, never in the request path: `database` stores tasks in the database in
# the same transaction as the change that asks for them, and `manage.py db_worker` runs them;
# `immediate` runs them in the request (tests, and `make run` for a one-process dev setup).
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
}
IAM_TASKS_BACKEND = _env(Environment.IAM_TASKS_BACKEND)
if IAM_TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"IAM_TASKS_BACKEND must be one of {sorted(_TASK_BACKENDS)}.")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[IAM_TASKS_BACKEND], "QUEUES": ["default"]}}
# A failed send is retried with exponential backoff (IAM_MAIL_MAX_ATTEMPTS, IAM_MAIL_RETRY_DELAY),
# then logged as an error and audited.

# --- users and passwords --------------------------------------------------------------------
AUTH_USER_MODEL = "iam_accounts.User"
AUTHENTICATION_BACKENDS = ["iam.accounts.backends.EmailOrUsernameBackend"]
PASSWORD_HASHERS = [
    "iam.accounts.hashers.IAMArgon2PasswordHasher",
    # Older hashes keep verifying and are upgraded to Argon2id on the next successful login.
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
# Argon2id cost; system check iam.E001 refuses anything under the OWASP floor (19 MiB, t=2, p=1).
# NIST SP 800-63B: a length floor, a blocklist of common passwords, nothing easy to guess
# (zxcvbn's score, IAM_PASSWORD_MIN_SCORE), nothing like the account's own names, no composition
# rules. Up to IAM_PASSWORD_MAX_LENGTH characters are accepted.
IAM_PASSWORD_MIN_LENGTH = _env(IAMSettings.password_min_length)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "username", "name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": IAM_PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "iam.accounts.passwords.StrengthValidator"},
    {"NAME": "iam.accounts.passwords.MaximumLengthValidator"},
]

# --- HTTP and security ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Static files (the hosted pages' scripts and styles, the admin's, the API docs') are served by
# WhiteNoise straight from the apps and IAM_STATIC_DIRS: no collectstatic step. Optional:
# STATIC_ROOT plus `manage.py collectstatic` adds compressed copies, which WhiteNoise prefers.
STATIC_ROOT = _env(Environment.STATIC_ROOT) or None
# Folders searched first for static files: an operator's logo, or a replacement for one of the
# pages' files (iam/ui/ui.css).
STATICFILES_DIRS = _env(Environment.IAM_STATIC_DIRS)
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Cookies are Secure unless plain-HTTP development is asked for explicitly.
IAM_COOKIE_SECURE = _env(IAMSettings.cookie_secure)
SESSION_COOKIE_SECURE = IAM_COOKIE_SECURE
CSRF_COOKIE_SECURE = IAM_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Browser apps on other origins that may call the API with credentials (cookies): an explicit
# list, never a wildcard (system check iam.E009). They are trusted for CSRF as well. They read
# the CSRF token from the X-CSRFToken response header (of /api/auth/csrf/ and of cookie and
# hybrid logins): the csrftoken cookie stays on the IAM's host, whatever IAM_COOKIE_DOMAIN says,
# so that sibling hosts cannot read it (docs/api.md, "Browser apps").
CORS_ALLOWED_ORIGINS = _env(Environment.CORS_ALLOWED_ORIGINS)
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/(api/|\.well-known/).*$"
CORS_ALLOW_HEADERS = (*default_headers, "x-tenant", "x-request-id")
CORS_EXPOSE_HEADERS = ["Retry-After", "X-Request-ID", "X-CSRFToken"]
CORS_PREFLIGHT_MAX_AGE = 600
CSRF_TRUSTED_ORIGINS = [
    *_env(Environment.CSRF_TRUSTED_ORIGINS),
    *(o for o in CORS_ALLOWED_ORIGINS if o != "*"),
]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The API the hosted pages call when they are served from another origin (iam.ui): their
# connect-src allows it.
IAM_UI_API_URL = _env(IAMSettings.ui_api_url)
# Content-Security-Policy (Django's own): the API answers JSON, the admin and the API docs are
# served from here with nonces for their inline scripts and styles; the hosted pages load one
# nonced module each; nothing may frame any page.
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF, *([IAM_UI_API_URL] if IAM_UI_API_URL else [])],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
}
SECURE_SSL_REDIRECT = _env(Environment.SECURE_SSL_REDIRECT)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = _env(Environment.SECURE_HSTS_SECONDS)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env(Environment.SECURE_HSTS_INCLUDE_SUBDOMAINS)
SECURE_HSTS_PRELOAD = _env(Environment.SECURE_HSTS_PRELOAD)
if _env(Environment.USE_X_FORWARDED_PROTO):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DATA_UPLOAD_MAX_MEMORY_SIZE = _env(Environment.DATA_UPLOAD_MAX_MEMORY_SIZE)

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["iam.authn.authentication.IAMAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["iam.core.parsers.StrictJSONParser"],
    # Every API view counts per client IP (anonymous) or per user, unless it sets its own limits.
    "DEFAULT_THROTTLE_CLASSES": [
        "iam.core.throttles.AnonThrottle",
        "iam.core.throttles.UserThrottle",
    ],
    # ASCII-escaped JSON: any input echoed in an error (even a lone surrogate) always renders.
    "UNICODE_JSON": False,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's negotiation; the common Accept headers answered without parsing them
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "iam.core.negotiation.JSONFirstNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "iam.core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # IAM_THROTTLE_* (iam.core.settings_table.Environment): per scope, e.g. "5/min"
    "DEFAULT_THROTTLE_RATES": Environment.throttle_rates(env),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "IAM API",
    "DESCRIPTION": "Identity & Access Management: accounts, sessions, RS256 JWTs and JWKS.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # service clients authenticate to /api/oauth/* with HTTP Basic (RFC 6749 §2.3.1)
    "APPEND_COMPONENTS": {"securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}}},
}

# --- tokens: SimpleJWT is the one JWT configuration -----------------------------------------
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    # Keys are not configured here: they live in the database (iam.tokens.SigningKey), encrypted
    # with IAM_KEY_ENCRYPTION_KEYS, and are chosen per token by `kid`.
    "SIGNING_KEY": None,
    "VERIFYING_KEY": None,
    # IAM_ISSUER, IAM_AUDIENCE, IAM_TOKEN_LEEWAY_SECONDS, IAM_ACCESS_TOKEN_LIFETIME,
    # IAM_REFRESH_TOKEN_LIFETIME
    **{s.key: _env(s) for s in IAMSettings.declared() if isinstance(s, Jwt)},
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

# --- IAM (non-JWT) settings; typed access through iam.core.conf.iam_settings -----------------
# Every IAM_* setting declared in iam.core.settings_table.IAMSettings, from its variable (those
# set above, the secrets and SIMPLE_JWT's are not read twice).
_READ_ABOVE = {
    "IAM_KEY_ENCRYPTION_KEYS",
    "IAM_COOKIE_SECURE",
    "IAM_PASSWORD_MIN_LENGTH",
    "IAM_UI_API_URL",
}
_iam = {
    s.name: _env(s)
    for s in IAMSettings.declared()
    if s.env is not None and s.name not in _READ_ABOVE and not isinstance(s, Jwt)
}
_iam["IAM_MFA_TOTP_ISSUER"] = _iam["IAM_MFA_TOTP_ISSUER"] or _iam["IAM_PRODUCT_NAME"]
# Mailed links open the IAM's own hosted pages unless another front end is named; with the pages
# off there is no default (system check iam_ui.E001).
if not _iam["IAM_FRONTEND_URL"] and _iam["IAM_UI_ENABLED"]:
    _iam["IAM_FRONTEND_URL"] = SIMPLE_JWT["ISSUER"].rstrip("/")
globals().update(_iam)
# Social sign-in providers (iam.social): built from the IAM_SOCIAL_* variables.
IAM_SOCIAL_PROVIDERS = _env(IAMSettings.social_providers)
IAM_DEV_MODE = DEBUG  # auto-creates the first signing key; never on in production

# --- logging --------------------------------------------------------------------------------
# One JSON object per line in production (LOG_FORMAT=json, the default with DEBUG off), plain
# text in development; every line carries the request id. Audit events are logged by
# iam.audit.services with their type, user and session; request errors by django.request.
LOG_FORMAT = _env(Environment.LOG_FORMAT)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "iam.core.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": _env(Environment.LOG_LEVEL)},
    "loggers": {"django.security": {"level": "WARNING"}},
}

# E-mail uniqueness is a constraint on the address's comparison key (User.email_key, see
# iam.core.identifiers), which auth.W004 cannot see.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
