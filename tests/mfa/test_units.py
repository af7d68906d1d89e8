"""The pieces that decide: TOTP step matching, backup-code reading and matching, the limiter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pyotp
import pytest

from iam.core.exceptions import Throttled
from iam.mfa import backup_codes, totp
from iam.mfa.limits import mfa_attempt_release, mfa_attempt_reserve
from iam.mfa.selectors import MfaStatus

AT = datetime(2026, 11, 23, 12, 0, 15, tzinfo=UTC)
SECRET = pyotp.random_base32()
APP = pyotp.TOTP(SECRET)


def _match(code: str, newer_than: int | None = None) -> int | None:
    return totp.totp_step_matching(secret=SECRET, code=code, at=AT, newer_than=newer_than)


def test_totp_window_is_one_step_either_side() -> None:
    step = APP.timecode(AT)
    for offset in (-1, 0, 1):
        assert _match(APP.at(AT + timedelta(seconds=30 * offset))) == step + offset
    for offset in (-2, 2):
        assert _match(APP.at(AT + timedelta(seconds=30 * offset))) is None


def test_totp_refuses_the_last_accepted_step_and_older() -> None:
    step = APP.timecode(AT)
    code = APP.at(AT)
    assert _match(code, newer_than=step - 1) == step
    assert _match(code, newer_than=step) is None
    assert _match(APP.at(AT - timedelta(seconds=30)), newer_than=step) is None


@pytest.mark.parametrize(
    "junk", ["", "12345", "1234567", "12 456", "abcdef", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_totp_refuses_what_is_not_six_digits(junk: str) -> None:
    assert _match(junk) is None


def test_backup_codes_are_60_bit_crockford_and_read_leniently() -> None:
    code = backup_codes.backup_code_new()
    assert len(code) == 14
    assert code.count("-") == 2
    assert set(code.replace("-", "")) <= set(backup_codes.ALPHABET)
    normal = code.replace("-", "")
    assert backup_codes.backup_code_normalize(code.upper()) == normal
    assert backup_codes.backup_code_normalize(f" {normal[:6]} {normal[6:]} ") == normal
    assert backup_codes.backup_code_normalize("oooo-iiii-llll") == "000011111111"
    for bad in ("", "abc", normal + "0", "uuuu-uuuu-uuuu", "123456"):
        assert backup_codes.backup_code_normalize(bad) is None


def _stored(code: str) -> Any:
    salt = backup_codes.backup_code_salt()
    return SimpleNamespace(salt=salt, digest=backup_codes.backup_code_digest(code, salt))


def test_backup_code_matching_compares_every_candidate_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    codes = [backup_codes.backup_code_new() for _ in range(10)]
    stored = [_stored(c) for c in codes]
    calls = []
    real = backup_codes.hmac.compare_digest
    monkeypatch.setattr(
        backup_codes.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b)
    )
    assert backup_codes.backup_code_matching(codes[0], stored) is stored[0]
    assert len(calls) == 10  # no early exit at the first match
    assert backup_codes.backup_code_matching(backup_codes.backup_code_new(), stored) is None


def test_same_code_different_salts_give_different_digests() -> None:
    code = backup_codes.backup_code_new()
    assert _stored(code).digest != _stored(code).digest


def test_methods_list_only_what_the_user_can_use() -> None:
    on = {"enabled": True, "enabled_at": AT, "setup_pending": False}
    assert MfaStatus(**on, backup_codes_remaining=3).methods == ["totp", "backup_code"]
    assert MfaStatus(**on, backup_codes_remaining=0).methods == ["totp"]
    off = MfaStatus(enabled=False, enabled_at=None, setup_pending=True, backup_codes_remaining=0)
    assert off.methods == []


def test_limiter_counts_only_attempts_not_handed_back(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "mfa_code": "2/min",
        },
    }
    import time_machine

    with time_machine.travel(AT, tick=False) as clock:  # 15 s into a minute
        for _ in range(5):  # right codes hand their attempt back
            mfa_attempt_release(mfa_attempt_reserve(user_id="u1"))
        mfa_attempt_reserve(user_id="u1")
        mfa_attempt_reserve(user_id="u1")
        with pytest.raises(Throttled) as caught:
            mfa_attempt_reserve(user_id="u1")
        mfa_attempt_reserve(user_id="u2")  # per user
        # a sliding minute: both wrong codes must slide out of the last 60 s, so the window
        # that held them ends (45 s) and half of the next one passes (30 s)
        assert caught.value.retry_after == 76
        clock.shift(74)
        with pytest.raises(Throttled):
            mfa_attempt_reserve(user_id="u1")
        clock.shift(2)
        mfa_attempt_reserve(user_id="u1")
