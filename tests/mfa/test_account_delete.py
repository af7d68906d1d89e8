"""Deleting an account with MFA on takes the second factor too: it is the one account change the
owner cannot undo, so a stolen session plus the password must not be enough."""

from __future__ import annotations

from typing import Any

import pytest

from iam.audit.events import AuditEventType
from iam.audit.models import AuditEvent
from iam.mfa.models import BackupCode
from iam.tenancy.services import tenant_create
from tests.conftest import PASSWORD
from tests.mfa.conftest import Clock, Enrolled

pytestmark = pytest.mark.django_db


def _delete(api: Any, enrolled: Enrolled, **body: str) -> Any:
    return api.delete("/api/auth/me/", body, format="json", **enrolled.auth)


def _still_there(enrolled: Enrolled) -> bool:
    enrolled.user.refresh_from_db()
    return enrolled.user.is_active and enrolled.user.deleted_at is None


def test_the_password_alone_no_longer_deletes_an_account_with_mfa(
    api: Any, user_with_totp: Enrolled
) -> None:
    response = _delete(api, user_with_totp, password=PASSWORD)
    assert response.status_code == 400
    assert response.json()["code"] == "mfa_code_required"
    assert response.json()["fields"]["code"][0]["code"] == "mfa_code_required"
    assert _still_there(user_with_totp)


@pytest.mark.parametrize("code", ["", None])
def test_an_empty_code_is_a_missing_code(
    api: Any, user_with_totp: Enrolled, code: str | None
) -> None:
    response = api.delete(
        "/api/auth/me/", {"password": PASSWORD, "code": code}, format="json", **user_with_totp.auth
    )
    assert (response.status_code, response.json()["code"]) == (400, "mfa_code_required")
    assert _still_there(user_with_totp)


def test_a_deletion_refused_for_the_last_owner_does_not_spend_the_code(
    api: Any, user_with_totp: Enrolled
) -> None:
    tenant_create(name="Acme", slug="acme", owner=user_with_totp.user)
    backup = user_with_totp.backup_codes[0]
    refused = _delete(api, user_with_totp, password=PASSWORD, code=backup)
    assert (refused.status_code, refused.json()["code"]) == (409, "last_owner")
    unused = BackupCode.objects.filter(user_id=user_with_totp.user.pk, used_at__isnull=True)
    assert unused.count() == len(user_with_totp.backup_codes)
    assert not AuditEvent.objects.filter(type=AuditEventType.MFA_BACKUP_CODE_USED).exists()
    assert _still_there(user_with_totp)


def test_a_wrong_code_is_refused_counted_and_audited(api: Any, user_with_totp: Enrolled) -> None:
    response = _delete(api, user_with_totp, password=PASSWORD, code="000000")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_code")
    assert _still_there(user_with_totp)
    event = AuditEvent.objects.filter(type=AuditEventType.MFA_CODE_REJECTED).latest("id")
    assert event.data["purpose"] == "account_delete"
    assert event.user_id == user_with_totp.user.pk


def test_the_authenticator_code_deletes_the_account(api: Any, user_with_totp: Enrolled) -> None:
    response = _delete(api, user_with_totp, password=PASSWORD, code=user_with_totp.code())
    assert response.status_code == 204, response.content
    assert not _still_there(user_with_totp)
    assert api.get("/api/auth/me/", **user_with_totp.auth).status_code == 401


def test_a_backup_code_deletes_the_account(api: Any, user_with_totp: Enrolled) -> None:
    response = _delete(api, user_with_totp, password=PASSWORD, code=user_with_totp.backup_codes[0])
    assert response.status_code == 204, response.content
    assert not _still_there(user_with_totp)
    assert not BackupCode.objects.filter(user_id=user_with_totp.user.pk).exists()


def test_a_code_already_accepted_elsewhere_cannot_delete(
    api: Any, user_with_totp: Enrolled
) -> None:
    code = user_with_totp.code()
    regenerated = api.post(
        "/api/auth/mfa/backup-codes/", {"code": code}, format="json", **user_with_totp.auth
    )
    assert regenerated.status_code == 200, regenerated.content
    replayed = _delete(api, user_with_totp, password=PASSWORD, code=code)
    assert (replayed.status_code, replayed.json()["code"]) == (400, "invalid_code")
    assert _still_there(user_with_totp)


def test_a_wrong_password_does_not_spend_the_code(
    api: Any, user_with_totp: Enrolled, clock: Clock
) -> None:
    code = user_with_totp.code()
    wrong = _delete(api, user_with_totp, password="not my password", code=code)
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_password")
    assert _still_there(user_with_totp)
    assert _delete(api, user_with_totp, password=PASSWORD, code=code).status_code == 204


def test_guessing_codes_through_deletion_hits_the_mfa_limit(
    api: Any, user_with_totp: Enrolled, settings: Any
) -> None:
    # the per-user password-check limit (also 5/min) is lifted: the code limit alone must hold
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "password_check": "10000/min"},
    }
    statuses = [
        _delete(api, user_with_totp, password=PASSWORD, code=f"{n:06d}").status_code
        for n in range(1, 7)
    ]
    assert statuses == [400] * 5 + [429]
    assert _still_there(user_with_totp)
