from __future__ import annotations

from collections.abc import Mapping
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


class TenantRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()


class MeSerializer(UserSerializer):
    """``GET /api/auth/me/``: the user, plus the authorization context of the access token that
    made the request (the schema of ``me_data``)."""

    tenant = TenantRefSerializer(
        allow_null=True,
        help_text="The tenant the access token is scoped to (claims tid, tenant); null for none.",
    )
    roles = serializers.ListField(
        child=serializers.CharField(), help_text="Your roles in that tenant (claim roles)."
    )
    perms = serializers.ListField(
        child=serializers.CharField(),
        help_text="The permissions those roles grant, sorted (claim perms).",
    )

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "tenant", "roles", "perms"]
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


def authorization_data(claims: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The tenant, roles and permissions an access token carries (no query: the token is the
    authority). A token without a tenant grants nothing in any tenant: ``null``, ``[]``, ``[]``."""
    tid = claims.get("tid")
    if not tid:
        return {"tenant": None, "roles": [], "perms": []}
    return {
        "tenant": {"id": str(tid), "slug": claims.get("tenant")},
        "roles": list(claims.get("roles") or []),
        "perms": list(claims.get("perms") or []),
    }


def me_data(user: User, claims: Mapping[str, Any] | Any) -> dict[str, Any]:
    """``MeSerializer`` for the signed-in user and the claims of the request's access token."""
    return {**user_data(user), **authorization_data(claims)}
