"""The login endpoint reads the plain body without building its serializer; every input must
come out exactly as the serializer would have it (the values, or the serializer's own error)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from iam.authn.apis import LoginApi, login_input_of_body
from iam.core.apis import PASSWORD_MAX

PW = "correct horse battery staple"
BODIES: list[Any] = [
    {"email": "a@example.com", "password": PW},
    {"email": "  a@example.com \n", "password": PW, "transport": "body"},
    {"username": "alice", "password": PW, "transport": "hybrid"},
    {"email": "a@example.com", "username": "alice", "password": PW, "transport": "cookie"},
    {"email": "", "username": "alice", "password": PW},
    {"email": "   ", "password": PW},
    {"password": PW},
    {"email": "a@example.com"},
    {"email": "a@example.com", "password": ""},
    {"email": "a@example.com", "password": "   "},
    {"email": "a@example.com", "password": f" {PW} "},
    {"email": "a@example.com", "password": "x" * PASSWORD_MAX},
    {"email": "a@example.com", "password": "x" * (PASSWORD_MAX + 1)},
    {"email": "a" * 254, "password": PW},
    {"email": "a" * 255, "password": PW},
    {"username": "u" * 150, "password": PW},
    {"username": "u" * 151, "password": PW},
    {"email": "a@example.com", "password": "pass\x00word"},
    {"email": "a\x00@example.com", "password": PW},
    {"email": "a@example.com", "password": "\ud800"},
    {"email": "é@example.com", "password": "pässword"},
    {"email": 12, "password": PW},
    {"email": "a@example.com", "password": 12345678},
    {"email": None, "password": PW},
    {"email": ["a@example.com"], "password": PW},
    {"email": "a@example.com", "password": PW, "transport": "carrier-pigeon"},
    {"email": "a@example.com", "password": PW, "transport": ""},
    {"email": "a@example.com", "password": PW, "transport": None},
    {"email": "a@example.com", "password": PW, "transport": 1},
    {"email": "a@example.com", "password": PW, "tenant": "acme"},
    {"email": "a@example.com", "password": PW, "tenant": "not a slug"},
    {"email": "a@example.com", "password": PW, "unknown": "ignored"},
    {},
    [],
    "email",
]


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return ("value", call())
    except ValidationError as exc:
        return ("error", exc.detail)


def with_serializer(body: Any) -> dict[str, Any]:
    checked = LoginApi.LoginInput(data=body)
    checked.is_valid(raise_exception=True)
    return dict(checked.validated_data)


def lean(body: Any) -> dict[str, Any]:
    values = login_input_of_body(SimpleNamespace(data=body))  # type: ignore[arg-type]
    return values if values is not None else with_serializer(body)


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_lean_reading_agrees_with_the_serializer(body):
    assert outcome(lambda: lean(body)) == outcome(lambda: with_serializer(body))


def test_the_plain_case_skips_the_serializer():
    plain = {"email": " a@example.com ", "password": PW, "transport": "body"}
    assert login_input_of_body(SimpleNamespace(data=plain)) == {  # type: ignore[arg-type]
        "email": "a@example.com",
        "password": PW,
        "transport": "body",
        "identifier": "a@example.com",
    }


def test_a_form_body_is_left_to_the_serializer():
    form = QueryDict("email=a@example.com&password=secret", mutable=True)
    assert login_input_of_body(SimpleNamespace(data=form)) is None  # type: ignore[arg-type]


def test_a_login_through_the_lean_reading_works_end_to_end(api, user, keys):
    response = api.post(
        "/api/auth/login/",
        {
            "email": f"  {user.email.upper()} ",
            "password": "correct horse battery staple",
            "transport": "body",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["user"]["email"] == user.email
