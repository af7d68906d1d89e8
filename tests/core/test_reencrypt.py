"""Retiring a key-encryption key: prepend a new one, re-encrypt, drop the old one."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from iam.core import crypto
from iam.mfa.models import TotpDevice
from iam.tokens.keys import key_ring_clear, refresh_signing_secret, signing_key
from iam.tokens.models import SigningKey
from tests.mfa.conftest import bearer

pytestmark = pytest.mark.django_db


def test_secrets_survive_a_kek_rotation(api: Any, tokens: dict, settings: Any, login: Any) -> None:
    setup = api.post("/api/auth/mfa/totp/setup/", {}, format="json", **bearer(tokens["access"]))
    app = pyotp.parse_uri(setup.json()["otpauth_uri"])
    api.post("/api/auth/mfa/totp/enable/", {"code": app.now()}, format="json",
             **bearer(tokens["access"]))  # fmt: skip
    old = list(settings.IAM_KEY_ENCRYPTION_KEYS)
    new = Fernet.generate_key().decode()
    settings.IAM_KEY_ENCRYPTION_KEYS = [new, *old]
    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "4 signing keys, 1 TOTP secrets re-encrypted" in out.getvalue()
    settings.IAM_KEY_ENCRYPTION_KEYS = [new]  # the old KEK is gone
    key_ring_clear()
    assert signing_key() is not None
    assert refresh_signing_secret() is not None
    assert crypto.decrypt(TotpDevice.objects.get().secret_encrypted).decode() == app.secret
    assert SigningKey.objects.exclude(private_key_encrypted=b"").count() == 4


def test_nothing_changes_when_a_secret_cannot_be_read(tokens: dict, settings: Any) -> None:
    before = {k.pk: bytes(k.private_key_encrypted) for k in SigningKey.objects.all()}
    settings.IAM_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old KEK was dropped
    with pytest.raises(CommandError):
        call_command("reencrypt_secrets", stdout=StringIO())
    assert {k.pk: bytes(k.private_key_encrypted) for k in SigningKey.objects.all()} == before
