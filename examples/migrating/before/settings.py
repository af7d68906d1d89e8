"""orders-api **before** the move: a small DRF service that trusted the tokens of the old
SimpleJWT auth server because both knew the same HS256 secret (``JWT_SECRET_KEY``), and looked
every token's ``user_id`` up in its own copy of the user table (``JWTAuthentication``).

Diff it against ``../after/settings.py``; docs/migrating.md walks through the change.
"""

import os
import secrets
from datetime import timedelta

SECRET_KEY = os.environ.get("ORDERS_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
ROOT_URLCONF = "examples.migrating.before.api"
USE_TZ = True
# JWTAuthentication loads a user row for every request: the service kept a user table in sync.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("ORDERS_DATABASE", ":memory:"),
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
# The auth server's settings, copied: every service that held the secret could mint tokens.
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": os.environ["JWT_SECRET_KEY"],
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "15"))),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
}
