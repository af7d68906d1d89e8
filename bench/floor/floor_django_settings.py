"""Settings of the framework floor (``floor_django.py``): the least a Django + DRF + SimpleJWT
project needs to do the floor's work and send the IAM's security headers.

Only what that takes: no admin, sessions, messages, CSRF or authentication middleware, no i18n,
no logging beyond Django's default, no limits. The middleware are Django's own, for the headers
every IAM response carries (CSP, ``nosniff``, ``Referrer-Policy``, COOP, ``X-Frame-Options``)
and the ``Host`` check. Run with ``bench/floor`` on ``sys.path`` and
``DJANGO_SETTINGS_MODULE=floor_django_settings``.
"""

from datetime import timedelta

import environ
import floor_app
from django.utils.csp import CSP

env = environ.Env()

SECRET_KEY = env.str("SECRET_KEY", default="bench-floor-django-not-secret-" + "x" * 40)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_I18N = False
USE_TZ = True

INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "floor_django"
WSGI_APPLICATION = "floor_django.application"

# A persistent connection without a health check, binding and preparing as the floor's own
# psycopg connection does by default (and the IAM by its settings; Django's default is neither).
DATABASES = {
    "default": {
        **env.db("DATABASE_URL"),
        "CONN_MAX_AGE": None,
        "OPTIONS": {"server_side_binding": True, "prepare_threshold": 5},
    }
}

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {  # the IAM's policy (config/settings.py), without the pages' nonce
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

# Access tokens: SimpleJWT's own backend, RS256 with the floor's key (parsed once: SimpleJWT
# keeps the prepared key). Refresh tokens use a backend of their own (``floor_django.py``).
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "SIGNING_KEY": floor_app.KEY_FILE.read_text() if floor_app.KEY_FILE.exists() else None,
    "VERIFYING_KEY": floor_app.public_pem(),
    "AUDIENCE": floor_app.AUDIENCE,
    "ISSUER": floor_app.ISSUER,
    "USER_ID_CLAIM": "sub",
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=floor_app.ACCESS_LIFETIME),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=floor_app.REFRESH_LIFETIME),
    "AUTH_HEADER_TYPES": ("Bearer",),
}
