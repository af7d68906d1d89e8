"""Stock djangorestframework-simplejwt project: the baseline the IAM is benchmarked against.

Configured the way the SimpleJWT docs and most tutorials do it: RS256 with PEM strings in
SIMPLE_JWT, the token_blacklist app, rotation with blacklist-after-rotation, JWTAuthentication
as the default DRF authentication class, the ``startproject`` middleware stack.

Run with ``bench/stock`` on ``sys.path`` and ``DJANGO_SETTINGS_MODULE=stock_settings``.
"""

import contextlib
import os
from pathlib import Path

import environ
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = BASE_DIR / "var"
env = environ.Env()


def _write_once(path: Path, data: bytes) -> None:
    """Create ``path`` atomically; if another process (gunicorn worker) won the race, keep its."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    try:
        with contextlib.suppress(FileExistsError):  # another worker won the race: keep its key
            os.link(tmp, path)
    finally:
        tmp.unlink()


def _rsa_key_pair() -> tuple[str, str]:
    """PEM strings of the RS256 key pair in var/, generated on first use."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    private_path, public_path = VAR_DIR / "jwt_private.pem", VAR_DIR / "jwt_public.pem"
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_once(
            private_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    private_pem = private_path.read_text()
    if not public_path.exists():
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        _write_once(
            public_path,
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
    return private_pem, public_path.read_text()


SECRET_KEY = env.str("SECRET_KEY", default="bench-stock-not-secret-" + "x" * 40)
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "stock_urls"
WSGI_APPLICATION = "stock_wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/bench_stock")
}
DATABASES["default"]["CONN_MAX_AGE"] = 60
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Same Argon2id cost as the IAM (t=2, m=19 MiB, p=1).
PASSWORD_HASHERS = ["stock_hashers.BenchArgon2PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
    ],
}

_SIGNING_KEY, _VERIFYING_KEY = _rsa_key_pair()
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "SIGNING_KEY": _SIGNING_KEY,
    "VERIFYING_KEY": _VERIFYING_KEY,
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
