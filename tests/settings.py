"""Test run: the real settings module, fed a test environment (fresh secrets per run)."""

import os
import tempfile

from cryptography.fernet import Fernet

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", Fernet.generate_key().decode() * 2)
os.environ.setdefault("IAM_KEY_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("IAM_VAR_DIR", tempfile.mkdtemp(prefix="iam-test-"))
os.environ.setdefault("IAM_ISSUER", "https://iam.test")
os.environ.setdefault("IAM_AUDIENCE", "iam-test-api")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("EMAIL_URL", "memorymail://")
os.environ.setdefault("IAM_TASKS_BACKEND", "immediate")
os.environ.setdefault("IAM_FRONTEND_URL", "https://app.iam.test")

from config.settings import *  # noqa: F403
from config.settings import CACHES, REDIS_URL

# Cheap hashing everywhere except the tests that test hashing (they override this).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# 2048 is the floor and the default; key generation is the slowest part of key tests.
IAM_SIGNING_KEY_SIZE = 2048

# Parallel workers (pytest-xdist) must not share a Redis database: each flushes its own.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL and _worker.startswith("gw"):
    _base, _, _db = REDIS_URL.rstrip("/").rpartition("/")
    if not _db.isdigit():
        _base, _db = REDIS_URL.rstrip("/"), "15"
    _db_index = max(1, int(_db) - int(_worker[2:]))
    CACHES["default"]["LOCATION"] = f"{_base}/{_db_index}"
