"""The Django admin's login counts against the API login's limits, in the same buckets.

The review found ``/admin/login/`` with the sign-in delays but without the 5-per-minute limits
per client IP and per account: from one address, 20 wrong passwords for different accounts went
through before any delay started, where the API answers 429 after 5.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from iam.accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(db: Any) -> User:
    return User.objects.create_superuser(
        email="ops@example.com", password=PASSWORD, email_verified=True
    )


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash computed (the tests' hasher)."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    computed: list[str] = []
    encode = MD5PasswordHasher.encode

    def counting(self: Any, password: str, salt: str) -> str:
        computed.append(password)
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    return computed


def _admin(client: Client, email: str, password: str = PASSWORD, ip: str = "127.0.0.1") -> Any:
    return client.post(LOGIN, {"username": email, "password": password, "code": ""}, REMOTE_ADDR=ip)


def _refused(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) >= 1
    assert b"Too many sign-in attempts" in response.content


def test_five_attempts_per_minute_per_account_then_429_without_hashing(
    client: Client, staff: User, hashes: list
) -> None:
    for n in range(5):  # each from its own address: only the account's limit is at stake
        assert _admin(client, staff.email, f"wrong guess {n}", ip=f"10.1.0.{n}").status_code == 200
    hashes.clear()
    _refused(_admin(client, staff.email, ip="10.1.0.9"))  # even the right password
    assert hashes == []  # refused before any password hash
    assert client.get("/admin/").status_code == 302


def test_five_attempts_per_minute_per_address_then_429_without_hashing(
    client: Client, staff: User, hashes: list
) -> None:
    """The review: from one address, 20 wrong passwords for different accounts went through."""
    for n in range(5):
        assert _admin(client, f"someone{n}@example.com", "a guess").status_code == 200
    hashes.clear()
    _refused(_admin(client, staff.email))
    assert hashes == []
    assert _admin(client, staff.email, ip="10.1.1.1").status_code == 302  # another address


def test_api_and_admin_attempts_share_one_allowance_per_account(
    client: Client, api: Any, staff: User, keys: Any
) -> None:
    def api_login(ip: str) -> Any:
        body = {"email": staff.email, "password": "a guess", "transport": "body"}
        return api.post("/api/auth/login/", body, format="json", REMOTE_ADDR=ip)

    assert [api_login(f"10.2.0.{n}").status_code for n in range(3)] == [401] * 3
    admin = [_admin(client, "OPS@example.com", "a guess", f"10.2.1.{n}") for n in (1, 2)]
    assert [response.status_code for response in admin] == [200, 200]  # any spelling counts
    _refused(_admin(client, staff.email, ip="10.2.2.1"))
    limited = api_login("10.2.2.2")
    assert (limited.status_code, limited.json()["code"]) == (429, "throttled")


def test_api_and_admin_attempts_share_one_allowance_per_address(
    client: Client, api: Any, staff: User, keys: Any
) -> None:
    def api_login(email: str) -> Any:
        body = {"email": email, "password": "a guess", "transport": "body"}
        return api.post("/api/auth/login/", body, format="json", REMOTE_ADDR="10.3.0.1")

    assert [api_login(f"a{n}@example.com").status_code for n in range(2)] == [401] * 2
    for n in range(3):
        assert _admin(client, f"b{n}@example.com", "a guess", "10.3.0.1").status_code == 200
    limited = api_login("c@example.com")
    assert (limited.status_code, limited.json()["code"]) == (429, "throttled")
    _refused(_admin(client, staff.email, ip="10.3.0.1"))
