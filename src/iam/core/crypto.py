"""Encryption at rest with the key-encryption keys (KEK) from the environment.

MultiFernet (AES-128-CBC + HMAC-SHA256): the first key encrypts, every listed key decrypts, so a
new KEK is introduced by prepending it (keys created from then on use it; existing private keys
stay readable while the old KEK remains listed, and leave with the next rotations).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.db.models import QuerySet

from iam.core.conf import iam_settings, on_settings_reset


class DecryptionFailed(Exception):
    """Ciphertext was tampered with or no configured KEK can open it."""


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in iam_settings.key_encryption_keys])


on_settings_reset(_fernet.cache_clear)


def encrypt(plaintext: bytes) -> bytes:
    return _fernet().encrypt(plaintext)


def decrypt(ciphertext: bytes) -> bytes:
    try:
        return _fernet().decrypt(bytes(ciphertext))
    except InvalidToken as exc:
        raise DecryptionFailed("ciphertext could not be decrypted with any configured KEK") from exc


def reencrypt(ciphertext: bytes) -> bytes:
    """The same plaintext encrypted with the first (current) KEK, so older KEKs can be retired."""
    try:
        return _fernet().rotate(bytes(ciphertext))
    except InvalidToken as exc:
        raise DecryptionFailed("ciphertext could not be decrypted with any configured KEK") from exc


def random_id(nbytes: int = 16) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    # surrogatepass: any str a JSON body can carry hashes instead of raising
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class SecretsAtRest:
    """A column of secrets encrypted with the KEKs, for ``manage.py reencrypt_secrets``."""

    label: str  # "signing keys"
    rows: Callable[[], QuerySet[Any]]  # the rows that hold one (locked by the command)
    field: str  # the encrypted column


# Registered by the apps that keep such secrets, when they are ready (``iam.tokens``, ``iam.mfa``).
secrets_at_rest: list[SecretsAtRest] = []


def secrets_at_rest_register(*, label: str, rows: Callable[[], QuerySet[Any]], field: str) -> None:
    secrets_at_rest.append(SecretsAtRest(label=label, rows=rows, field=field))
