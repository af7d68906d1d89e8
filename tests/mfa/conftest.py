"""MFA fixtures: a real pyotp authenticator and a clock that moves in whole TOTP steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
import time_machine
from rest_framework.test import APIClient

from iam.accounts.models import User
from tests.conftest import bearer

STEP = 30


class Clock:
    """Frozen time; ``next_step()`` moves to the next TOTP time step (a fresh code)."""

    def __init__(self, traveller: Any) -> None:
        self._traveller = traveller

    def shift(self, seconds: float) -> None:
        self._traveller.shift(seconds)

    def next_step(self) -> None:
        self._traveller.shift(STEP)


@pytest.fixture
def clock() -> Iterator[Clock]:
    # The middle of a coming time step (so small shifts stay in one step), never before now
    # (tokens issued by fixtures set up earlier must not be from the future).
    now = time.time()
    start = datetime.fromtimestamp(now - now % STEP + STEP + STEP / 2, UTC)
    with time_machine.travel(start, tick=False) as traveller:
        yield Clock(traveller)


@dataclass
class Enrolled:
    """A user who turned MFA on through the API, with their authenticator app."""

    user: User
    app: pyotp.TOTP
    backup_codes: list[str]
    tokens: dict[str, Any]  # the body-transport login that enrolled
    used: set[str] = field(default_factory=set)

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.tokens["access"])

    def code(self) -> str:
        return self.app.now()


def enrol(api: APIClient, access: str) -> tuple[pyotp.TOTP, list[str]]:
    """Set up and confirm an authenticator through the API, like a user with an app does."""
    setup = api.post("/api/auth/mfa/totp/setup/", {}, format="json", **bearer(access))
    assert setup.status_code == 200, setup.content
    app = pyotp.parse_uri(setup.json()["otpauth_uri"])
    enable = api.post(
        "/api/auth/mfa/totp/enable/", {"code": app.now()}, format="json", **bearer(access)
    )
    assert enable.status_code == 200, enable.content
    return app, enable.json()["backup_codes"]


@pytest.fixture
def user_with_totp(api: APIClient, user: User, login: Callable[..., Any], clock: Clock) -> Enrolled:
    response = login(api)
    assert response.status_code == 200, response.content
    tokens = response.json()
    app, codes = enrol(api, tokens["access"])
    clock.next_step()  # the enrolment code is spent; the next one is fresh
    return Enrolled(user=user, app=app, backup_codes=codes, tokens=tokens)


@pytest.fixture
def mfa_login(login: Callable[..., Any]) -> Callable[..., Any]:
    """``mfa_login(client, code, transport=...)``: both steps; returns the second response."""

    def _mfa_login(client: APIClient, code: str, *, transport: str = "body", **kw: Any) -> Any:
        first = login(client, transport=transport, **kw)
        assert first.status_code == 200, first.content
        assert first.json()["mfa_required"] is True, first.content
        return client.post(
            "/api/auth/login/mfa/",
            {"mfa_token": first.json()["mfa_token"], "code": code},
            format="json",
        )

    return _mfa_login


@pytest.fixture(autouse=True)
def _login_limits_out_of_the_way(settings: Any) -> None:
    """These tests sign in often: the per-IP and per-account login limits are tested elsewhere
    (the second-factor limits stay at their defaults)."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    lifted = dict.fromkeys(("login_ip", "login_account", "anon"), "10000/min")
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, **lifted},
    }


def complete_mfa(api: Any, mfa_token: Any, code: Any) -> Any:
    """The second step of a login."""
    return api.post("/api/auth/login/mfa/", {"mfa_token": mfa_token, "code": code}, format="json")


def wrong_code(code: str) -> str:
    """A six-digit code that is not ``code``."""
    return str((int(code) + 1) % 1_000_000).zfill(6)
