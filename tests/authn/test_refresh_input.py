"""The refresh endpoints read the body's token without a serializer in the plain case; every
input must come out exactly as the serializer would have it (value or error)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from rest_framework.exceptions import ValidationError

from iam.authn.apis import CompatTokenRefreshApi, RefreshApi, refresh_of_body

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
BODIES = [
    {"refresh": TOKEN},
    {"refresh": f"  {TOKEN}\n"},
    {"refresh": TOKEN, "other": 1},
    {"refresh": ""},
    {"refresh": "   "},
    {"refresh": None},
    {"refresh": 123},
    {"refresh": ["a"]},
    {"refresh": "x" * 8192},
    {"refresh": "x" * 8193},
    {"refresh": " " + "x" * 8192 + " "},
    {"refresh": "a\x00b"},
    {"refresh": "\ud800"},
    {"refresh": "é" + TOKEN},
    {},
    ["refresh"],
    "refresh",
]


def outcome(call):
    try:
        return ("value", call())
    except ValidationError as exc:
        return ("error", exc.detail)


@pytest.mark.parametrize(
    "serializer", [RefreshApi.RefreshInput, CompatTokenRefreshApi.CompatRefreshInput]
)
@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_lean_reading_agrees_with_the_serializer(serializer, body):
    def with_serializer():
        checked = serializer(data=body)
        checked.is_valid(raise_exception=True)
        return checked.validated_data.get("refresh")

    lean = outcome(lambda: refresh_of_body(SimpleNamespace(data=body), serializer))
    assert lean == outcome(with_serializer)
