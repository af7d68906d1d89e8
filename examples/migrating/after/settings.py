"""orders-api **after** the move: it verifies the IAM's RS256 access tokens itself, with the
public keys the IAM publishes (JWKS, found from ``IAM_ISSUER``). No shared secret (the service
can no longer mint tokens), no user table (the token says who and what), no call to the IAM per
request.

Diff it against ``../before/settings.py``; docs/migrating.md walks through the change.
"""

import os
import secrets

SECRET_KEY = os.environ.get("ORDERS_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
ROOT_URLCONF = "examples.migrating.after.api"
USE_TZ = True
DATABASES: dict = {}  # the principal comes from the token: no user row to load

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["iam_client.contrib.drf.IAMTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
# The IAM's address and the audience of its user access tokens (IAM_AUDIENCE, default iam-api).
IAM_CLIENT = {
    "ISSUER": os.environ["IAM_ISSUER"],
    "AUDIENCE": os.environ.get("IAM_AUDIENCE", "iam-api"),
}
