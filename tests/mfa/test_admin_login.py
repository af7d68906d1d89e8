"""Staff with MFA on pass the second factor at the Django admin login too."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from iam.accounts.models import User
from tests.conftest import PASSWORD
from tests.mfa.conftest import Clock, enrol

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(db: Any) -> User:
    return User.objects.create_superuser(
        email="ops@example.com", password=PASSWORD, email_verified=True
    )


@pytest.fixture
def staff_app(api: Any, staff: User, login: Any, clock: Clock) -> Any:
    app, _ = enrol(api, login(api, email=staff.email).json()["access"])
    clock.next_step()
    return app


def _post(client: Client, code: str = "") -> Any:
    return client.post(LOGIN, {"username": "ops@example.com", "password": PASSWORD, "code": code})


def test_the_admin_login_page_has_a_code_field(client: Client, db: Any) -> None:
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert b'name="code"' in page.content


def test_staff_without_mfa_sign_in_with_the_password(client: Client, staff: User) -> None:
    assert _post(client).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_password_alone_is_not_enough_with_mfa_on(client: Client, staff_app: Any) -> None:
    response = _post(client)
    assert response.status_code == 200
    assert b"authenticator" in response.content
    assert client.get("/admin/").status_code == 302  # still to the login page
    wrong = _post(client, "000000")
    assert wrong.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_the_right_code_lets_staff_in_once(client: Client, staff_app: Any) -> None:
    code = staff_app.now()
    assert _post(client, code).status_code == 302
    assert client.get("/admin/").status_code == 200
    replay = Client()
    assert _post(replay, code).status_code == 200  # the same code again: refused
    assert replay.get("/admin/").status_code == 302


def test_a_session_from_before_mfa_was_turned_on_is_sent_back_to_login(
    client: Client, staff: User, api: Any, login: Any, clock: Clock
) -> None:
    assert _post(client).status_code == 302
    assert client.get("/admin/").status_code == 200
    enrol(api, login(api, email=staff.email).json()["access"])
    assert client.get("/admin/").status_code == 302
