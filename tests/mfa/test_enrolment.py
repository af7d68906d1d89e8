"""Enrolment through the API with a real pyotp authenticator: setup, enable, status, reauth."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from iam.audit.events import AuditEventType
from iam.audit.models import AuditEvent
from iam.core import crypto
from iam.mfa.models import BackupCode, TotpDevice
from tests.mfa.conftest import Clock, bearer

pytestmark = pytest.mark.django_db


def _setup(api: Any, access: str, **body: Any) -> Any:
    return api.post("/api/auth/mfa/totp/setup/", body, format="json", **bearer(access))


def _enable(api: Any, access: str, code: str) -> Any:
    return api.post("/api/auth/mfa/totp/enable/", {"code": code}, format="json", **bearer(access))


def test_setup_gives_secret_uri_and_qr_and_turns_nothing_on(
    api: Any, tokens: dict, clock: Clock, settings: Any, login: Any
) -> None:
    settings.IAM_MFA_TOTP_ISSUER = "Acme Login"
    response = _setup(api, tokens["access"])
    assert response.status_code == 200
    body = response.json()
    app = pyotp.parse_uri(body["otpauth_uri"])
    assert app.secret == body["secret"]
    assert app.issuer == "Acme Login"
    assert app.name == "alice@example.com"
    assert body["qr_svg"].lstrip().startswith("<")
    assert "<svg" in body["qr_svg"]
    status = api.get("/api/auth/mfa/", **bearer(tokens["access"])).json()
    assert status == {
        "enabled": False,
        "enabled_at": None,
        "setup_pending": True,
        "methods": [],
        "backup_codes_remaining": 0,
    }
    again = login(api)  # nothing is on until a code confirms the app
    assert "access" in again.json()
    assert "mfa_required" not in again.json()


def test_enable_with_a_code_from_the_app_turns_mfa_on_and_returns_ten_backup_codes(
    api: Any, tokens: dict, clock: Clock
) -> None:
    app = pyotp.parse_uri(_setup(api, tokens["access"]).json()["otpauth_uri"])
    response = _enable(api, tokens["access"], app.now())
    assert response.status_code == 200
    codes = response.json()["backup_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    status = api.get("/api/auth/mfa/", **bearer(tokens["access"])).json()
    assert status["enabled"] is True
    assert status["setup_pending"] is False
    assert status["methods"] == ["totp", "backup_code"]
    assert status["backup_codes_remaining"] == 10
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert {AuditEventType.MFA_SETUP_STARTED, AuditEventType.MFA_ENABLED} <= types


def test_wrong_code_does_not_enable(api: Any, tokens: dict, clock: Clock) -> None:
    app = pyotp.parse_uri(_setup(api, tokens["access"]).json()["otpauth_uri"])
    wrong = str((int(app.now()) + 1) % 1_000_000).zfill(6)
    response = _enable(api, tokens["access"], wrong)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_code"
    assert not TotpDevice.objects.filter(confirmed_at__isnull=False).exists()
    assert AuditEvent.objects.filter(type=AuditEventType.MFA_CODE_REJECTED).count() == 1


def test_a_new_setup_replaces_an_unconfirmed_one(api: Any, tokens: dict, clock: Clock) -> None:
    first = pyotp.parse_uri(_setup(api, tokens["access"]).json()["otpauth_uri"])
    second = pyotp.parse_uri(_setup(api, tokens["access"]).json()["otpauth_uri"])
    assert first.secret != second.secret
    assert TotpDevice.objects.count() == 1
    assert _enable(api, tokens["access"], first.now()).json()["code"] == "invalid_code"
    assert _enable(api, tokens["access"], second.now()).status_code == 200


def test_enable_without_setup_and_setup_when_on_are_conflicts(
    api: Any, tokens: dict, clock: Clock
) -> None:
    response = _enable(api, tokens["access"], "123456")
    assert (response.status_code, response.json()["code"]) == (409, "mfa_setup_required")
    app = pyotp.parse_uri(_setup(api, tokens["access"]).json()["otpauth_uri"])
    assert _enable(api, tokens["access"], app.now()).status_code == 200
    clock.next_step()
    for response in (_setup(api, tokens["access"]), _enable(api, tokens["access"], app.now())):
        assert (response.status_code, response.json()["code"]) == (409, "mfa_already_enabled")


def test_enabling_ends_the_other_sessions_and_keeps_this_one(
    api: Any, tokens: dict, clock: Clock, login: Any
) -> None:
    other = login(api).json()
    app = pyotp.parse_uri(_setup(api, tokens["access"]).json()["otpauth_uri"])
    assert _enable(api, tokens["access"], app.now()).status_code == 200
    assert api.get("/api/auth/me/", **bearer(other["access"])).status_code == 401
    refreshed = api.post("/api/auth/refresh/", {"refresh": other["refresh"]}, format="json")
    assert refreshed.status_code == 401
    assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200


def test_other_sessions_survive_when_the_setting_is_off(
    api: Any, tokens: dict, clock: Clock, login: Any, settings: Any
) -> None:
    settings.IAM_MFA_REVOKE_OTHER_SESSIONS = False
    other = login(api).json()
    app = pyotp.parse_uri(_setup(api, tokens["access"]).json()["otpauth_uri"])
    assert _enable(api, tokens["access"], app.now()).status_code == 200
    assert api.get("/api/auth/me/", **bearer(other["access"])).status_code == 200


def test_an_old_session_must_give_the_password_to_start_a_setup(
    api: Any, tokens: dict, clock: Clock, settings: Any
) -> None:
    """A stolen access token of a long-lived session cannot bind the thief's authenticator."""
    settings.IAM_MFA_REAUTH_AGE = 300
    clock.shift(301)
    # the access token is still valid (15 min), the sign-in is not recent
    response = _setup(api, tokens["access"])
    assert (response.status_code, response.json()["code"]) == (400, "password_required")
    assert "password" in response.json()["fields"]
    wrong = _setup(api, tokens["access"], password="not the password at all")
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_password")
    from tests.conftest import PASSWORD

    assert _setup(api, tokens["access"], password=PASSWORD).status_code == 200
    assert TotpDevice.objects.count() == 1


def test_the_secret_is_encrypted_at_rest_with_the_key_encryption_key(
    api: Any, tokens: dict, clock: Clock, settings: Any
) -> None:
    secret = _setup(api, tokens["access"]).json()["secret"]
    stored = bytes(TotpDevice.objects.get().secret_encrypted)
    assert secret.encode() not in stored
    assert crypto.decrypt(stored) == secret.encode()
    from cryptography.fernet import Fernet

    settings.IAM_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # another KEK
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(stored)


def test_backup_codes_are_stored_as_salted_digests_only(
    api: Any, tokens: dict, clock: Clock
) -> None:
    app = pyotp.parse_uri(_setup(api, tokens["access"]).json()["otpauth_uri"])
    codes = _enable(api, tokens["access"], app.now()).json()["backup_codes"]
    rows = list(BackupCode.objects.values("salt", "digest"))
    assert len(rows) == 10
    assert len({r["salt"] for r in rows}) == 10
    stored = repr(rows)
    for code in codes:
        assert code not in stored
        assert code.replace("-", "") not in stored


def test_cookie_sessions_need_csrf_to_enrol(browser: Any, user: Any, keys: Any) -> None:
    from tests.conftest import PASSWORD, csrf_headers

    headers = csrf_headers(browser)
    response = browser.post(
        "/api/auth/login/",
        {"email": user.email, "password": PASSWORD, "transport": "cookie"},
        format="json",
        **headers,
    )
    assert response.status_code == 200
    forged = browser.post("/api/auth/mfa/totp/setup/", {}, format="json")
    assert (forged.status_code, forged.json()["code"]) == (403, "csrf_failed")
    ok = browser.post("/api/auth/mfa/totp/setup/", {}, format="json", **csrf_headers(browser))
    assert ok.status_code == 200


def test_anonymous_callers_get_401(api: Any, db: Any) -> None:
    for path in ("totp/setup/", "totp/enable/", "totp/disable/", "backup-codes/"):
        assert api.post(f"/api/auth/mfa/{path}", {}, format="json").status_code == 401
    assert api.get("/api/auth/mfa/").status_code == 401
