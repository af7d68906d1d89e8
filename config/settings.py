"""The one settings module. Everything configurable is read from the environment here.

Defaults give a working embedded setup (SQLite under ``var/``, local-memory cache, console e-mail).
With ``DEBUG`` off the service refuses to start without its secrets and allowed hosts.
"""

import logging
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
VAR_DIR = Path(env.str("IAM_VAR_DIR", default=str(BASE_DIR / "var")))

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


def _required(name: str, dev_file: str, make: callable) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return _dev_secret(dev_file, make)
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off.")


SECRET_KEY = _required("SECRET_KEY", "secret_key", lambda: Fernet.generate_key().decode() * 2)
# Fernet keys (comma-separated; the first encrypts, all decrypt) wrapping private keys at rest.
IAM_KEY_ENCRYPTION_KEYS = _required(
    "IAM_KEY_ENCRYPTION_KEYS", "key_encryption_key", lambda: Fernet.generate_key().decode()
).split(",")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
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
    "django_tasks_db",
]

MIDDLEWARE = [
    "iam.core.logging.RequestIdMiddleware",
    "iam.core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "iam.tenancy.middleware.TenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Operators override mail templates (iam/email/*.txt|html) by putting theirs here.
        "DIRS": env.list("IAM_TEMPLATE_DIRS", default=[]),
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
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'iam.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if env.bool("DATABASE_POOL", default=False):
        # psycopg 3 connection pool (Django >= 5.1); exclusive with persistent connections.
        DATABASES["default"]["OPTIONS"] = {"pool": True}
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache ----------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="iam"),
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
_mail = env.email_url("EMAIL_URL", default="consolemail://")
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
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="IAM <no-reply@localhost>")

# --- background tasks (django.tasks) --------------------------------------------------------
# Mail is sent by a task, never in the request path: `database` stores tasks in the database in
# the same transaction as the change that asks for them, and `manage.py db_worker` runs them;
# `immediate` runs them in the request (tests, and `make run` for a one-process dev setup).
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
}
IAM_TASKS_BACKEND = env.str("IAM_TASKS_BACKEND", default="database")
if IAM_TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"IAM_TASKS_BACKEND must be one of {sorted(_TASK_BACKENDS)}.")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[IAM_TASKS_BACKEND], "QUEUES": ["default"]}}
# A failed send is retried with exponential backoff, then logged as an error and audited.
IAM_MAIL_MAX_ATTEMPTS = env.int("IAM_MAIL_MAX_ATTEMPTS", default=5)
IAM_MAIL_RETRY_DELAY = env.int("IAM_MAIL_RETRY_DELAY", default=30)
# Account mails per recipient address and hour, whoever asks; over it they are dropped silently.
# "Unsolicited" ones go to an address the requester has not shown to own (notices to the owner of
# a taken address, links to a requested new address).
IAM_MAIL_BUDGET_PER_ADDRESS = env.int("IAM_MAIL_BUDGET_PER_ADDRESS", default=10)
IAM_MAIL_BUDGET_UNSOLICITED = env.int("IAM_MAIL_BUDGET_UNSOLICITED", default=3)

# --- mails and the front end they link to ---------------------------------------------------
IAM_PRODUCT_NAME = env.str("IAM_PRODUCT_NAME", default="IAM")
# Links in mails are built from these, never from the request's Host header.
IAM_FRONTEND_URL = env.str("IAM_FRONTEND_URL", default="http://localhost:3000").rstrip("/")
IAM_FRONTEND_VERIFY_EMAIL_PATH = env.str(
    "IAM_FRONTEND_VERIFY_EMAIL_PATH", default="/verify-email?token={token}"
)
IAM_FRONTEND_PASSWORD_RESET_PATH = env.str(
    "IAM_FRONTEND_PASSWORD_RESET_PATH", default="/reset-password?token={token}"
)
IAM_EMAIL_VERIFICATION_TTL = env.int("IAM_EMAIL_VERIFICATION_TTL", default=24 * 3600)
# Security notices by mail: a sign-in from a new device, a password change or reset, MFA changes.
IAM_NOTIFY_NEW_DEVICE = env.bool("IAM_NOTIFY_NEW_DEVICE", default=True)
IAM_NOTIFY_PASSWORD_CHANGE = env.bool("IAM_NOTIFY_PASSWORD_CHANGE", default=True)
IAM_NOTIFY_MFA_CHANGE = env.bool("IAM_NOTIFY_MFA_CHANGE", default=True)
IAM_PASSWORD_RESET_TTL = env.int("IAM_PASSWORD_RESET_TTL", default=3600)

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
IAM_ARGON2_TIME_COST = env.int("IAM_ARGON2_TIME_COST", default=2)
IAM_ARGON2_MEMORY_COST_KIB = env.int("IAM_ARGON2_MEMORY_COST_KIB", default=19456)
IAM_ARGON2_PARALLELISM = env.int("IAM_ARGON2_PARALLELISM", default=1)
# NIST SP 800-63B: a length floor, a blocklist of common passwords, nothing like the account's
# own names, no composition rules. Up to IAM_PASSWORD_MAX_LENGTH characters are accepted.
IAM_PASSWORD_MIN_LENGTH = env.int("IAM_PASSWORD_MIN_LENGTH", default=12)
IAM_PASSWORD_MAX_LENGTH = env.int("IAM_PASSWORD_MAX_LENGTH", default=1024)
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
    {"NAME": "iam.accounts.passwords.MaximumLengthValidator"},
]

# --- HTTP and security ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))

# Cookies are Secure unless plain-HTTP development is asked for explicitly.
IAM_COOKIE_SECURE = env.bool("IAM_COOKIE_SECURE", default=True)
SESSION_COOKIE_SECURE = IAM_COOKIE_SECURE
CSRF_COOKIE_SECURE = IAM_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Browser apps on other origins that may call the API with credentials (cookies): an explicit
# list, never a wildcard (system check iam.E009). They are trusted for CSRF as well. They read
# the CSRF token from the X-CSRFToken response header (of /api/auth/csrf/ and of cookie and
# hybrid logins): the csrftoken cookie stays on the IAM's host, whatever IAM_COOKIE_DOMAIN says,
# so that sibling hosts cannot read it (docs/api.md, "Browser apps").
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/(api/|\.well-known/).*$"
CORS_ALLOW_HEADERS = (*default_headers, "x-tenant", "x-request-id")
CORS_EXPOSE_HEADERS = ["Retry-After", "X-Request-ID", "X-CSRFToken"]
CORS_PREFLIGHT_MAX_AGE = 600
CSRF_TRUSTED_ORIGINS = [
    *env.list("CSRF_TRUSTED_ORIGINS", default=[]),
    *(o for o in CORS_ALLOWED_ORIGINS if o != "*"),
]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (Django's own): the API answers JSON, the admin and the API docs are
# served from here with nonces for their inline scripts and styles; nothing may frame any page.
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
}
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=64 * 1024)

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
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "iam.core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("IAM_THROTTLE_ANON", default="100/hour"),
        "user": env.str("IAM_THROTTLE_USER", default="1000/hour"),
        # refreshes per device session
        "refresh_session": env.str("IAM_THROTTLE_REFRESH_SESSION", default="10/min"),
        "login_ip": env.str("IAM_THROTTLE_LOGIN_IP", default="5/min"),
        "login_account": env.str("IAM_THROTTLE_LOGIN_ACCOUNT", default="5/min"),
        # mails an anonymous caller can trigger (register, resend, reset), per address and client
        "account_mail": env.str("IAM_THROTTLE_ACCOUNT_MAIL", default="3/hour"),
        # registrations per client IP (each costs a password hash and a mail)
        "register_ip": env.str("IAM_THROTTLE_REGISTER_IP", default="10/hour"),
        # current-password checks of a signed-in user (password change, account deletion)
        "password_check": env.str("IAM_THROTTLE_PASSWORD_CHECK", default="5/min"),
        # OAuth endpoints (client authentication) per client IP
        "oauth_ip": env.str("IAM_THROTTLE_OAUTH_IP", default="120/min"),
        # wrong second-factor codes per user (login, disable, backup-code regeneration)
        "mfa_code": env.str("IAM_THROTTLE_MFA_CODE", default="5/min"),
    },
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
_issuer = env.str("IAM_ISSUER", default="http://127.0.0.1:8000")
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    # Keys are not configured here: they live in the database (iam.tokens.SigningKey), encrypted
    # with IAM_KEY_ENCRYPTION_KEYS, and are chosen per token by `kid`.
    "SIGNING_KEY": None,
    "VERIFYING_KEY": None,
    "ISSUER": _issuer,
    "AUDIENCE": env.str("IAM_AUDIENCE", default="iam-api"),
    "LEEWAY": env.int("IAM_TOKEN_LEEWAY_SECONDS", default=10),
    "ACCESS_TOKEN_LIFETIME": timedelta(
        seconds=env.int("IAM_ACCESS_TOKEN_LIFETIME", default=15 * 60)
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env.int("IAM_REFRESH_TOKEN_LIFETIME", default=7 * 24 * 3600)
    ),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

# --- IAM (non-JWT) settings; typed access through iam.core.conf.iam_settings -----------------
IAM_SESSION_ABSOLUTE_LIFETIME = env.int("IAM_SESSION_ABSOLUTE_LIFETIME", default=30 * 24 * 3600)
IAM_REFRESH_GRACE_SECONDS = env.int("IAM_REFRESH_GRACE_SECONDS", default=5)
IAM_SESSION_RETENTION = env.int("IAM_SESSION_RETENTION", default=7 * 24 * 3600)
IAM_ACCESS_COOKIE_NAME = env.str("IAM_ACCESS_COOKIE_NAME", default="access_token")
IAM_REFRESH_COOKIE_NAME = env.str("IAM_REFRESH_COOKIE_NAME", default="refresh_token")
IAM_REFRESH_COOKIE_PATH = env.str("IAM_REFRESH_COOKIE_PATH", default="/api/auth/")
IAM_COOKIE_DOMAIN = env.str("IAM_COOKIE_DOMAIN", default="") or None
IAM_REQUIRE_EMAIL_VERIFICATION = env.bool("IAM_REQUIRE_EMAIL_VERIFICATION", default=True)
IAM_SIGNING_KEY_SIZE = env.int("IAM_SIGNING_KEY_SIZE", default=2048)
IAM_JWKS_MAX_AGE = env.int("IAM_JWKS_MAX_AGE", default=300)
IAM_KEY_CACHE_SECONDS = env.int("IAM_KEY_CACHE_SECONDS", default=60)
IAM_TOKEN_CACHE_SIZE = env.int("IAM_TOKEN_CACHE_SIZE", default=10_000)
# Keep "is this session live, who is its user" in the shared cache (auto: only when REDIS_URL).
IAM_AUTH_STATE_CACHE = env.str("IAM_AUTH_STATE_CACHE", default="auto")
IAM_TRUSTED_PROXY_COUNT = env.int("IAM_TRUSTED_PROXY_COUNT", default=0)
# Tenants: <slug>.IAM_TENANT_BASE_DOMAIN (e.g. acme.login.example.com) selects a tenant at sign-in.
IAM_TENANT_BASE_DOMAIN = env.str("IAM_TENANT_BASE_DOMAIN", default="")
IAM_INVITATION_TTL = env.int("IAM_INVITATION_TTL", default=7 * 24 * 3600)
IAM_FRONTEND_INVITATION_PATH = env.str(
    "IAM_FRONTEND_INVITATION_PATH", default="/invitations/accept?token={token}"
)
# Client-credentials (service) access tokens.
IAM_SERVICE_TOKEN_LIFETIME = env.int("IAM_SERVICE_TOKEN_LIFETIME", default=15 * 60)
# Progressive sign-in delays (iam.authn.lockout): after the free failures, each wrong password
# locks the account (or IP) for BASE seconds, doubling, at most MAX; counters live WINDOW seconds.
IAM_LOCKOUT_FREE_ATTEMPTS = env.int("IAM_LOCKOUT_FREE_ATTEMPTS", default=5)
IAM_LOCKOUT_IP_FREE_ATTEMPTS = env.int("IAM_LOCKOUT_IP_FREE_ATTEMPTS", default=20)
IAM_LOCKOUT_BASE_DELAY = env.int("IAM_LOCKOUT_BASE_DELAY", default=30)
IAM_LOCKOUT_MAX_DELAY = env.int("IAM_LOCKOUT_MAX_DELAY", default=15 * 60)
IAM_LOCKOUT_WINDOW = env.int("IAM_LOCKOUT_WINDOW", default=24 * 3600)
# Two-factor authentication (TOTP + backup codes).
IAM_MFA_TOTP_ISSUER = env.str("IAM_MFA_TOTP_ISSUER", default="") or IAM_PRODUCT_NAME
IAM_MFA_TOKEN_TTL = env.int("IAM_MFA_TOKEN_TTL", default=300)  # the login's mfa_token
IAM_MFA_TOKEN_MAX_ATTEMPTS = env.int("IAM_MFA_TOKEN_MAX_ATTEMPTS", default=5)
# Turning MFA on or off (or an operator reset) ends the account's other sessions.
IAM_MFA_REVOKE_OTHER_SESSIONS = env.bool("IAM_MFA_REVOKE_OTHER_SESSIONS", default=True)
# Starting an authenticator setup in a session signed in longer ago than this needs the password.
IAM_MFA_REAUTH_AGE = env.int("IAM_MFA_REAUTH_AGE", default=300)
# Wrong codes in a row (over windows and mfa_tokens) before each further one delays the next
# attempt (IAM_LOCKOUT_BASE_DELAY, doubling, at most IAM_MFA_MAX_DELAY seconds).
IAM_MFA_FREE_FAILURES = env.int("IAM_MFA_FREE_FAILURES", default=10)
IAM_MFA_MAX_DELAY = env.int("IAM_MFA_MAX_DELAY", default=3600)
IAM_DEV_MODE = DEBUG  # auto-creates the first signing key; never on in production

# --- metrics (Prometheus, /metrics) --------------------------------------------------------------
IAM_METRICS_ENABLED = env.bool("IAM_METRICS_ENABLED", default=True)
# Who may scrape: these networks, or a bearer of IAM_METRICS_TOKEN; everyone else gets a 404.
# Nobody by default: behind a local reverse proxy every request would come from loopback.
IAM_METRICS_ALLOWED_IPS = [
    net.strip() for net in env.list("IAM_METRICS_ALLOWED_IPS", default=[]) if net.strip()
]
IAM_METRICS_TOKEN = env.str("IAM_METRICS_TOKEN", default="")

# --- logging --------------------------------------------------------------------------------
# One JSON object per line in production (LOG_FORMAT=json, the default with DEBUG off), plain
# text in development; every line carries the request id. Audit events are logged by
# iam.audit.services with their type, user and session; request errors by django.request.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
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
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.security": {"level": "WARNING"}},
}

# E-mail uniqueness is a case-insensitive functional constraint (Lower(email)), which auth.W004
# cannot see.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
