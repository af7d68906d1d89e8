"""Backup codes: 60 random bits each, shown once, stored as salted SHA-256 digests.

A code is 12 characters of Crockford's base32 written ``xxxx-xxxx-xxxx``; input is read the
Crockford way (any case, hyphens and spaces ignored, ``i``/``l`` read as ``1`` and ``o`` as ``0``).
60 bits make a stolen digest table useless to brute force, so a fast hash is enough and checking
all of a user's codes costs microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Protocol

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
LENGTH = 12
COUNT = 10
_READ_AS = str.maketrans({"i": "1", "l": "1", "o": "0", "-": None, " ": None})


class StoredCode(Protocol):
    salt: str
    digest: str


def backup_code_new() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def backup_code_normalize(code: str) -> str | None:
    """The canonical form of a typed code, or None when it cannot be one."""
    text = code.strip().lower().translate(_READ_AS)
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def backup_code_digest(code: str, salt: str) -> str:
    """Digest of a code (any typed form is normalised first)."""
    normal = backup_code_normalize(code) or code
    return hashlib.sha256(f"{salt}:{normal}".encode()).hexdigest()


def backup_code_salt() -> str:
    return secrets.token_hex(16)


def backup_code_matching[T: StoredCode](code: str, stored: Iterable[T]) -> T | None:
    """The stored code ``code`` is, compared in constant time against every candidate."""
    normal = backup_code_normalize(code)
    if normal is None:
        return None
    matched = None
    for candidate in stored:
        if hmac.compare_digest(backup_code_digest(normal, candidate.salt), candidate.digest):
            matched = candidate
    return matched
