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

from config.settings import *  # noqa: F403

# Cheap hashing everywhere except the tests that test hashing (they override this).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# 2048 is the floor and the default; key generation is the slowest part of key tests.
IAM_SIGNING_KEY_SIZE = 2048
