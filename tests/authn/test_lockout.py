"""Progressive sign-in delays: attacked with guessing, letter case, spoofed headers, own logins."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from iam.accounts.models import User
from iam.audit.events import AuditEventType
from iam.audit.models import AuditEvent
from iam.core.lockout import LockoutPolicy
from tests.authn.conftest import WRONG
from tests.authn.conftest import password_login as _login
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _loose_rate_limits(settings: Any) -> None:
    """Only the lockout under test here: the per-minute login limits out of the way."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **rates,
            "login_ip": "10000/min",
            "login_account": "10000/min",
            "anon": "10000/min",
        },
    }


@pytest.fixture
def clock() -> Any:
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def test_delays_double_and_are_capped() -> None:
    policy = LockoutPolicy(
        free_attempts=5, ip_free_attempts=20, base_delay=30, max_delay=900, window=86400
    )
    delays = [policy.delay_after(n, free=5) for n in range(1, 13)]
    assert delays == [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]


def test_after_five_wrong_passwords_even_the_right_one_waits(
    api: Any, user: User, keys: Any, clock: Any
) -> None:
    for _ in range(5):
        assert _login(api).status_code == 401
    assert not AuditEvent.objects.filter(type=AuditEventType.LOGIN_LOCKED).exists()
    assert _login(api).status_code == 401  # the 6th failure starts a 30 s delay
    locked = _login(api, password=PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["code"] == "throttled"
    assert 29 <= int(locked["Retry-After"]) <= 31
    event = AuditEvent.objects.get(type=AuditEventType.LOGIN_LOCKED)
    assert event.user_id == user.pk
    assert event.data == {"scope": "account", "failures": 6, "delay": 30}
    clock.shift(31)
    assert _login(api, password=PASSWORD).status_code == 200


def test_the_delay_grows_with_each_failure_up_to_the_cap(
    api: Any, user: User, keys: Any, clock: Any
) -> None:
    for _ in range(6):
        _login(api)
    seen = []
    for _ in range(6):
        waiting = _login(api)
        seen.append(int(waiting["Retry-After"]))
        clock.shift(int(waiting["Retry-After"]) + 1)
        assert _login(api).status_code == 401  # one more guess, a longer delay
    assert seen == [31, 61, 121, 241, 481, 901]


def test_letter_case_and_username_share_one_counter(
    api: Any, user: User, keys: Any, clock: Any
) -> None:
    for identifier in ("alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"):
        _login(api, identifier)
    for identifier in ("alice", "ALICE", "  alice "):
        response = api.post(
            "/api/auth/login/", {"username": identifier, "password": WRONG}, format="json"
        )
        assert response.status_code == 401
    assert _login(api, "aLiCe@example.com", PASSWORD).status_code == 429


def test_unknown_accounts_lock_the_same_way(api: Any, user: User, keys: Any, clock: Any) -> None:
    for _ in range(6):
        _login(api, "nobody@example.com", WRONG, REMOTE_ADDR="10.0.0.2")
        _login(api, "alice@example.com", WRONG, REMOTE_ADDR="10.0.0.3")
    ghost = _login(api, "nobody@example.com", WRONG, REMOTE_ADDR="10.0.0.2")
    real = _login(api, "alice@example.com", WRONG, REMOTE_ADDR="10.0.0.3")
    assert ghost.status_code == real.status_code == 429
    assert ghost.json() == real.json()
    assert ghost["Retry-After"] == real["Retry-After"]


def test_a_successful_login_from_the_same_ip_resets_nothing(
    api: Any, user: User, keys: Any, clock: Any
) -> None:
    User.objects.create_user(email="mallory@example.com", password=PASSWORD, email_verified=True)
    for _ in range(5):
        _login(api)
    assert _login(api, "mallory@example.com", PASSWORD).status_code == 200  # own account
    assert _login(api).status_code == 401  # 6th failure on alice: the delay starts anyway
    assert _login(api, password=PASSWORD).status_code == 429


def test_one_ip_guessing_many_accounts_is_delayed(api: Any, user: User, keys: Any) -> None:
    for i in range(20):  # 20 different accounts, one wrong password each: the IP's free ones
        assert _login(api, f"user{i}@example.com", REMOTE_ADDR="10.9.9.9").status_code == 401
    assert _login(api, "user21@example.com", REMOTE_ADDR="10.9.9.9").status_code == 401
    blocked = _login(api, "alice@example.com", PASSWORD, REMOTE_ADDR="10.9.9.9")
    assert blocked.status_code == 429
    assert _login(api, "alice@example.com", PASSWORD, REMOTE_ADDR="10.1.1.1").status_code == 200
    assert AuditEvent.objects.filter(
        type=AuditEventType.LOGIN_LOCKED, data__scope="ip", user_id__isnull=True
    ).exists()


def test_a_spoofed_forwarded_for_header_does_not_dodge_the_ip_counter(
    api: Any, user: User, keys: Any
) -> None:
    for i in range(21):
        _login(api, f"user{i}@example.com", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    response = _login(api, "x@example.com", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_clients_count_apart_and_cannot_prepend_their_way_out(
    api: Any, user: User, keys: Any, settings: Any
) -> None:
    settings.IAM_TRUSTED_PROXY_COUNT = 1
    for i in range(21):  # the client adds junk; the proxy appends the real address
        _login(api, f"u{i}@example.com", HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 192.0.2.7")
    assert _login(api, "y@example.com", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 429
    other_client = _login(api, "alice@example.com", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.8")
    assert other_client.status_code == 200


def test_a_password_reset_ends_the_accounts_delay(
    api: Any, user: User, keys: Any, outbox: list
) -> None:
    from tests.conftest import link_token

    for _ in range(6):
        _login(api, REMOTE_ADDR="10.0.0.5")
    assert _login(api, password=PASSWORD).status_code == 429
    api.post("/api/auth/password/reset/", {"email": user.email}, format="json")
    new = "a brand new passphrase 2026"
    api.post(
        "/api/auth/password/reset/confirm/",
        {"token": link_token(outbox[-1]), "password": new},
        format="json",
    )
    assert _login(api, password=new).status_code == 200


def test_operators_unlock_accounts_and_ips(api: Any, user: User, keys: Any) -> None:
    for i in range(21):
        _login(api, f"user{i}@example.com", REMOTE_ADDR="10.7.7.7")
    for _ in range(6):
        _login(api, REMOTE_ADDR="10.8.8.8")
    assert _login(api, password=PASSWORD, REMOTE_ADDR="10.6.6.6").status_code == 429
    out = StringIO()
    call_command("unlock_login", "ALICE@example.com", "--operator", "ops", stdout=out)
    assert _login(api, password=PASSWORD, REMOTE_ADDR="10.6.6.6").status_code == 200
    assert _login(api, "z@example.com", REMOTE_ADDR="10.7.7.7").status_code == 429
    call_command("unlock_login", "--ip", "10.7.7.7", stdout=out)
    assert _login(api, "z@example.com", REMOTE_ADDR="10.7.7.7").status_code == 401
    events = AuditEvent.objects.filter(type=AuditEventType.LOGIN_UNLOCKED)
    assert events.count() == 2
    assert events.filter(user_id=user.pk, data__by="command:ops").exists()


def test_the_admin_action_unlocks(client: Any, api: Any, user: User, keys: Any) -> None:
    for _ in range(6):
        _login(api)
    staff = User.objects.create_superuser(email="ops@example.com", password=PASSWORD)
    client.force_login(staff)
    client.post(
        "/admin/iam_accounts/user/",
        {"action": "unlock_login", "_selected_action": [str(user.pk)]},
    )
    assert _login(api, password=PASSWORD).status_code == 200


def test_no_password_is_hashed_while_locked(
    api: Any, user: User, keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(6):
        _login(api)
    calls = []
    monkeypatch.setattr(User, "check_password", lambda self, raw: calls.append(raw) or True)
    import iam.authn.flows as flows

    monkeypatch.setattr(flows, "make_password", lambda raw: calls.append(raw))
    assert _login(api, password=PASSWORD).status_code == 429
    assert _login(api, "nobody@example.com").status_code == 401  # other accounts: hashed
    assert calls == [WRONG]


def test_guessing_from_elsewhere_does_not_lock_the_owner_out_of_their_usual_places(
    api: Any, user: User, keys: Any
) -> None:
    assert _login(api, password=PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 200  # home
    for _ in range(8):
        _login(api, REMOTE_ADDR="203.0.113.66")  # the attacker
    assert _login(api, password=PASSWORD, REMOTE_ADDR="203.0.113.66").status_code == 429
    assert _login(api, password=PASSWORD, REMOTE_ADDR="198.51.100.1").status_code == 429  # new
    assert _login(api, password=PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 200  # home
