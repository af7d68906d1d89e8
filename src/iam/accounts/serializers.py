from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from iam.accounts.models import User


class UserSerializer(serializers.ModelSerializer):
    """The public shape of a user (the schema of ``user_data``)."""

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "username",
            "name",
            "email_verified",
            "pending_email",
            "is_staff",
            "created_at",
            "last_login",
        ]
        read_only_fields = fields


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def user_data(user: User) -> dict[str, Any]:
    """``UserSerializer(user).data`` without building serializer fields on every request (it is on
    the hot path of ``/me``); ``tests/accounts/test_serializers.py`` keeps the two identical."""
    return {
        "id": str(user.pk),
        "email": user.email,
        "username": user.username,
        "name": user.name,
        "email_verified": user.email_verified,
        "pending_email": user.pending_email,
        "is_staff": user.is_staff,
        "created_at": _iso(user.created_at),
        "last_login": _iso(user.last_login),
    }
