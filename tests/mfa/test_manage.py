"""Turning MFA off, new backup codes, and operator resets (admin action, command)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from iam.audit.events import AuditEventType
from iam.audit.models import AuditEvent
from iam.mfa.models import BackupCode, TotpDevice
from tests.conftest import PASSWORD
from tests.mfa.conftest import Clock, Enrolled, bearer

pytestmark = pytest.mark.django_db


def _disable(api: Any, enrolled: Enrolled, *, password: str = PASSWORD, code: str) -> Any:
    return api.post(
        "/api/auth/mfa/totp/disable/",
        {"password": password, "code": code},
        format="json",
        **enrolled.auth,
    )


def _regenerate(api: Any, enrolled: Enrolled, code: str) -> Any:
    return api.post("/api/auth/mfa/backup-codes/", {"code": code}, format="json", **enrolled.auth)


def test_disable_needs_the_password_and_a_fresh_code(
    api: Any, user_with_totp: Enrolled, login: Any
) -> None:
    wrong_pw = _disable(api, user_with_totp, password="not my password", code=user_with_totp.code())
    assert (wrong_pw.status_code, wrong_pw.json()["code"]) == (400, "invalid_password")
    wrong_code = _disable(api, user_with_totp, code="000000")
    assert (wrong_code.status_code, wrong_code.json()["code"]) == (400, "invalid_code")
    missing = api.post("/api/auth/mfa/totp/disable/", {"password": PASSWORD}, format="json",
                       **user_with_totp.auth)  # fmt: skip
    assert missing.status_code == 400
    assert TotpDevice.objects.filter(confirmed_at__isnull=False).exists()

    other = login(api)  # password step of another device: an MFA challenge
    assert other.json()["mfa_required"] is True
    done = _disable(api, user_with_totp, code=user_with_totp.code())
    assert done.status_code == 204
    assert not TotpDevice.objects.exists()
    assert not BackupCode.objects.exists()
    plain = login(api)
    assert "access" in plain.json()  # password-only again
    assert AuditEvent.objects.filter(type=AuditEventType.MFA_DISABLED).count() == 1
    status = api.get("/api/auth/mfa/", **user_with_totp.auth).json()
    assert status["enabled"] is False


def test_disabling_ends_the_other_sessions(
    api: Any, user_with_totp: Enrolled, mfa_login: Any, clock: Clock
) -> None:
    other = mfa_login(api, user_with_totp.code()).json()
    clock.next_step()
    assert _disable(api, user_with_totp, code=user_with_totp.code()).status_code == 204
    assert api.get("/api/auth/me/", **bearer(other["access"])).status_code == 401
    assert api.get("/api/auth/me/", **user_with_totp.auth).status_code == 200


def test_disable_with_a_backup_code(api: Any, user_with_totp: Enrolled) -> None:
    response = _disable(api, user_with_totp, code=user_with_totp.backup_codes[3])
    assert response.status_code == 204


def test_regenerating_backup_codes_kills_the_old_ones(
    api: Any, user_with_totp: Enrolled, mfa_login: Any
) -> None:
    wrong = _regenerate(api, user_with_totp, "000000")
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_code")
    response = _regenerate(api, user_with_totp, user_with_totp.code())
    assert response.status_code == 200
    new_codes = response.json()["backup_codes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(user_with_totp.backup_codes)
    assert mfa_login(api, user_with_totp.backup_codes[0]).json()["code"] == "invalid_code"
    assert mfa_login(api, new_codes[0]).status_code == 200
    assert AuditEvent.objects.filter(type=AuditEventType.MFA_BACKUP_CODES_REGENERATED).exists()


def test_regenerating_with_a_backup_code_spends_it_then_replaces_all(
    api: Any, user_with_totp: Enrolled
) -> None:
    response = _regenerate(api, user_with_totp, user_with_totp.backup_codes[0])
    assert response.status_code == 200
    assert BackupCode.objects.filter(used_at__isnull=True).count() == 10


def test_disable_and_regenerate_need_mfa_on(api: Any, tokens: dict) -> None:
    headers = bearer(tokens["access"])
    for path, body in (
        ("totp/disable/", {"password": PASSWORD, "code": "123456"}),
        ("backup-codes/", {"code": "123456"}),
    ):
        response = api.post(f"/api/auth/mfa/{path}", body, format="json", **headers)
        assert (response.status_code, response.json()["code"]) == (409, "mfa_not_enabled")


def test_guessing_codes_on_disable_is_limited_per_user(
    api: Any, user_with_totp: Enrolled, settings: Any
) -> None:
    """A stolen access token plus the password still cannot brute-force the code."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "password_check": "100/min",
        },
    }
    for guess in ("000001", "000002", "000003", "000004", "000005"):
        assert _disable(api, user_with_totp, code=guess).json()["code"] == "invalid_code"
    blocked = _disable(api, user_with_totp, code=user_with_totp.code())
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "throttled"
    assert blocked["Retry-After"]


def test_operator_command_resets_mfa_and_is_audited(
    api: Any, user_with_totp: Enrolled, login: Any
) -> None:
    out = StringIO()
    call_command("reset_mfa", "ALICE@example.com", "--operator", "ops-jane", stdout=out)
    assert "now off" in out.getvalue()
    assert not TotpDevice.objects.exists()
    assert not BackupCode.objects.exists()
    event = AuditEvent.objects.get(type=AuditEventType.MFA_RESET)
    assert event.user_id == user_with_totp.user.pk
    assert event.data == {"by": "command:ops-jane", "was_enabled": True}
    assert api.get("/api/auth/me/", **user_with_totp.auth).status_code == 401  # sessions end
    assert "access" in login(api).json()
    with pytest.raises(CommandError):
        call_command("reset_mfa", "nobody@example.com")


def test_admin_action_resets_mfa_and_is_audited(
    client: Any, user_with_totp: Enrolled, login: Any, api: Any
) -> None:
    from iam.accounts.models import User

    staff = User.objects.create_superuser(email="ops@example.com", password=PASSWORD)
    client.force_login(staff)
    response = client.post(
        "/admin/iam_accounts/user/",
        {"action": "reset_mfa", "_selected_action": [str(user_with_totp.user.pk)]},
    )
    assert response.status_code == 302
    assert not TotpDevice.objects.exists()
    event = AuditEvent.objects.get(type=AuditEventType.MFA_RESET)
    assert event.data["by"] == f"admin:{staff.pk}"
    assert "access" in login(api).json()


def test_deleting_the_account_drops_its_second_factors(api: Any, user_with_totp: Enrolled) -> None:
    response = api.delete(
        "/api/auth/me/",
        {"password": PASSWORD, "code": user_with_totp.code()},
        format="json",
        **user_with_totp.auth,
    )
    assert response.status_code == 204, response.content
    assert not TotpDevice.objects.exists()
    assert not BackupCode.objects.exists()


def test_cleanup_deletes_expired_sign_in_attempts_only(
    api: Any, user_with_totp: Enrolled, login: Any, clock: Clock
) -> None:
    from iam.mfa.models import MfaChallenge

    login(api)
    clock.shift(301)
    out = StringIO()
    call_command("cleanup_sessions", stdout=out)
    assert "1 expired MFA sign-in(s)" in out.getvalue()
    login(api)  # a live one stays
    call_command("cleanup_sessions", stdout=out)
    assert "0 expired MFA sign-in(s)" in out.getvalue()
    assert MfaChallenge.objects.count() == 1
