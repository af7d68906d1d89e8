"""Password policy pieces Django does not ship (the rest is Django's validators, see settings)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from iam.core.conf import iam_settings


class MaximumLengthValidator:
    """Refuse passwords longer than ``IAM_PASSWORD_MAX_LENGTH`` (default 1024; NIST asks that at
    least 64 characters be accepted). A bound keeps the hashing cost of one request bounded."""

    def validate(self, password: str, user: object = None) -> None:
        limit = iam_settings.password_max_length
        if len(password) > limit:
            raise ValidationError(
                f"This password is too long. It must contain at most {limit} characters.",
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return f"Your password can be up to {iam_settings.password_max_length} characters long."
