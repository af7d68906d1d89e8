"""The ``next`` allow-list, decided in one function."""

from __future__ import annotations

from typing import Any

import pytest

from iam.social.redirects import login_page, safe_next


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/dashboard", "https://app.iam.test/dashboard"),
        ("/a?b=c#d", "https://app.iam.test/a?b=c#d"),
        ("https://app.iam.test/x", "https://app.iam.test/x"),
        ("https://APP.iam.test/x", "https://APP.iam.test/x"),
        ("https://app.iam.test", "https://app.iam.test"),
        ("https://shop.example.com/cart", "https://shop.example.com/cart"),
        ("//evil.example", None),
        ("///evil.example", None),
        ("https:evil.example", None),
        ("https:/evil.example", None),
        ("/\\evil.example", None),
        ("\\/evil.example", None),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,x", None),
        ("https://evil.example", None),
        ("https://app.iam.test@evil.example/", None),
        ("https://app.iam.test:443@evil.example/", None),
        ("https://app.iam.test.evil.example/", None),
        ("https://app.iam.testevil.example/", None),
        ("http://app.iam.test/", None),
        ("https://app.iam.test:8443/", None),
        ("ftp://app.iam.test/", None),
        ("/x\ny", None),
        ("/x y", None),
        ("/x\x00", None),
        ("dashboard", None),
        ("", None),
        (None, None),
        (["/x"], None),
        ("/" + "a" * 3000, None),
    ],
)
def test_next(value: Any, expected: str | None, settings: Any) -> None:
    settings.IAM_ALLOWED_REDIRECT_ORIGINS = ["https://shop.example.com"]
    assert safe_next(value) == expected


def test_front_end_pages_keep_their_own_query(settings: Any) -> None:
    settings.IAM_FRONTEND_SOCIAL_LOGIN_PATH = "/login?mode=social"
    assert login_page(social_error="x y", provider="idp", next=None) == (
        "https://app.iam.test/login?mode=social&social_error=x+y&provider=idp"
    )
