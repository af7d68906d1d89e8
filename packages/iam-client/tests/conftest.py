"""Fixtures: keys generated once per session, a fake clock and issuer, a verifier, tokens.
Django is configured minimally (no IAM project settings, no database) for the DRF tests."""

from __future__ import annotations

from typing import Any

import pytest
from kit import AUDIENCE, ISSUER, FakeClock, FakeIssuer, Key, Tokens

from iam_client import Verifier


def pytest_configure(config: pytest.Config) -> None:
    try:
        import django
        from django.conf import settings
    except ImportError:  # the DRF tests skip themselves
        return
    if not settings.configured:
        settings.configure(
            SECRET_KEY="iam-client-tests",
            DEBUG=False,
            ALLOWED_HOSTS=["testserver"],
            INSTALLED_APPS=[
                "django.contrib.contenttypes",
                "django.contrib.auth",
                "rest_framework",
            ],
            DATABASES={},
            USE_TZ=True,
            REST_FRAMEWORK={
                "DEFAULT_AUTHENTICATION_CLASSES": ["iam_client.contrib.drf.IAMTokenAuthentication"],
                "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
                "UNAUTHENTICATED_USER": None,
            },
            IAM_CLIENT={"ISSUER": ISSUER, "AUDIENCE": AUDIENCE},
        )
        django.setup()


@pytest.fixture(scope="session")
def key_a() -> Key:
    return Key.generate()


@pytest.fixture(scope="session")
def key_b() -> Key:
    return Key.generate()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def issuer(key_a: Key) -> FakeIssuer:
    return FakeIssuer(published=[key_a])


@pytest.fixture
def make_verifier(issuer: FakeIssuer, clock: FakeClock):
    def make(**kwargs: Any) -> Verifier:
        kwargs.setdefault("http_fetch", issuer.fetch)
        kwargs.setdefault("clock", clock)
        return Verifier(ISSUER, kwargs.pop("audience", AUDIENCE), **kwargs)

    return make


@pytest.fixture
def verifier(make_verifier) -> Verifier:
    return make_verifier()


@pytest.fixture
def tokens(clock: FakeClock, key_a: Key) -> Tokens:
    return Tokens(clock, key_a)
