from __future__ import annotations

from typing import Any

import pytest

from iam.accounts.models import User
from iam.tenancy.models import Membership, Role, Tenant
from tests.conftest import PASSWORD


@pytest.fixture
def acme(db: Any) -> Tenant:
    return Tenant.objects.create(name="Acme", slug="acme")


@pytest.fixture
def globex(db: Any) -> Tenant:
    return Tenant.objects.create(name="Globex", slug="globex")


@pytest.fixture
def make_member(db: Any):
    """``make_member(email, tenant, role)`` -> a verified user holding ``role`` in ``tenant``."""

    def _make(email: str, tenant: Tenant | None = None, role: str = "member") -> User:
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email=email, password=PASSWORD, email_verified=True
        )
        if tenant is not None:
            Membership.objects.create(tenant=tenant, user=user, role=Role.objects.get(name=role))
        return user

    return _make


@pytest.fixture
def signed_in(api: Any, keys: Any):
    """``signed_in(email, tenant=None)`` -> bearer headers of a fresh body-transport session."""

    def _sign_in(email: str, tenant: str | None = None, **extra: Any) -> dict[str, str]:
        body = {"email": email, "password": PASSWORD, "transport": "body"}
        if tenant is not None:
            body["tenant"] = tenant
        response = api.post("/api/auth/login/", body, format="json", **extra)
        assert response.status_code == 200, response.content
        tokens = response.json()
        return {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}", "refresh": tokens["refresh"]}

    return _sign_in


def claims(headers: dict[str, str]) -> dict[str, Any]:
    import jwt

    return jwt.decode(headers["HTTP_AUTHORIZATION"][7:], options={"verify_signature": False})


def auth(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": headers["HTTP_AUTHORIZATION"]}
