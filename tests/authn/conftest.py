"""Helpers of the sign-in tests."""

from __future__ import annotations

from typing import Any

WRONG = "definitely not the password"


def password_login(
    api: Any, email: str = "alice@example.com", password: str = WRONG, **kw: Any
) -> Any:
    """A body-transport login (with a wrong password unless told otherwise)."""
    return api.post(
        "/api/auth/login/",
        {"email": email, "password": password, "transport": "body"},
        format="json",
        **kw,
    )
