"""A database that cannot be reached (restarted, out of connections, shutting down) is a quick
``503 service_unavailable`` in the error shape with ``Retry-After``, wherever the request meets
it: in an API view, in the authentication, or in a middleware outside DRF. Never a 500.

The outage is simulated at the driver boundary (every statement raises what psycopg raises when
the server is gone); tests/topology restarts a real PostgreSQL under load."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError
from django.db.backends import utils as db_utils
from django.test import Client

from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patch:
        patch.setattr(db_utils.CursorWrapper, "execute", refuse)
        patch.setattr(db_utils.CursorWrapper, "executemany", refuse)
        yield


def _unavailable(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response.json() == {
        "detail": "The service is temporarily unavailable.",
        "code": "service_unavailable",
    }
    assert response["Retry-After"] == "5"


def test_a_sign_in_while_the_database_is_down(user, keys, database_down):
    client = Client(raise_request_exception=False)
    response = client.post(
        "/api/auth/login/",
        {"email": user.email, "password": PASSWORD, "transport": "body"},
        content_type="application/json",
    )
    _unavailable(response)


def test_an_authenticated_request_while_the_database_is_down(tokens, monkeypatch):
    client = Client(raise_request_exception=False)
    with monkeypatch.context() as patch:  # the session check falls back to the database here
        patch.setattr(
            db_utils.CursorWrapper,
            "execute",
            lambda *a, **k: (_ for _ in ()).throw(
                OperationalError("the database is shutting down")
            ),
        )
        response = client.get("/api/auth/me/", **bearer(tokens["access"]))
    _unavailable(response)


def test_a_page_outside_drf_meeting_the_outage(user, database_down):
    # the admin's sign-in form is a plain Django view: handler500 answers for it
    client = Client(raise_request_exception=False)
    response = client.post("/admin/login/", {"username": user.email, "password": PASSWORD})
    _unavailable(response)


def test_other_database_errors_stay_server_errors(user, keys, monkeypatch):
    from django.db import IntegrityError

    client = Client(raise_request_exception=False)
    with monkeypatch.context() as patch:
        patch.setattr(
            db_utils.CursorWrapper,
            "execute",
            lambda *a, **k: (_ for _ in ()).throw(IntegrityError("a bug, not an outage")),
        )
        response = client.post(
            "/api/auth/login/",
            {"email": user.email, "password": PASSWORD, "transport": "body"},
            content_type="application/json",
        )
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
