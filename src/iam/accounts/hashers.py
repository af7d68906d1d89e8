"""Argon2id with the cost taken from settings (never below the OWASP floor; see checks.py)."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher

from iam.core.conf import iam_settings


class IAMArgon2PasswordHasher(Argon2PasswordHasher):
    """Django's Argon2id hasher, tunable by ``IAM_ARGON2_*``.

    Django re-hashes on the next successful login when the stored parameters differ from these
    (``must_update``), so raising the cost upgrades every account over time.
    """

    algorithm = "argon2"

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return iam_settings.argon2_time_cost

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return iam_settings.argon2_memory_cost_kib

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return iam_settings.argon2_parallelism
