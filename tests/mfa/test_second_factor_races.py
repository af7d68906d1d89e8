"""What happens between the steps of a sign-in: concurrent uses of one code, and changes that
land between the password check and the lock, or between the password step and the code step.

The review's mutation check turned the TOTP replay guard's ``last_used_step__lt`` into
``__lte`` and no test noticed: the guard in Python (``newer_than``) already refuses a code used
before the request read the device, so only a request that read the device *before* another
spent the code reaches the compare-and-swap that must refuse it.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from iam.mfa import verification as mfa_verification
from iam.mfa.models import TotpDevice
from iam.sessions.models import DeviceSession
from iam.tenancy.models import Membership, Role, Tenant
from tests.conftest import PASSWORD
from tests.mfa.conftest import Enrolled

pytestmark = pytest.mark.django_db


def _password_step(api: Any, login: Any, **body: Any) -> str:
    first = login(api, **body)
    assert first.status_code == 200, first.content
    assert first.json()["mfa_required"] is True
    return first.json()["mfa_token"]


def _code_step(client: Any, mfa_token: str, code: str) -> Any:
    return client.post(
        "/api/auth/login/mfa/", {"mfa_token": mfa_token, "code": code}, format="json"
    )


@pytest.fixture
def stale_device_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request checks the code as if it had read the device before any code was spent
    (``newer_than`` forgotten): what a request that lost a race to another one sees."""
    original = mfa_verification.totp_step_matching

    def as_read_before(**kwargs: Any) -> int | None:
        return original(**{**kwargs, "newer_than": None})

    monkeypatch.setattr(mfa_verification, "totp_step_matching", as_read_before)


def test_a_code_spent_after_this_request_read_the_device_is_refused(
    api: Any, user_with_totp: Enrolled, login: Any, stale_device_read: None
) -> None:
    """Deterministic on every database: the second request's device read predates the first
    one's use of the code, so only the compare-and-swap (``last_used_step < step``) stands
    between it and a replay."""
    code = user_with_totp.code()
    first, second = _password_step(api, login), _password_step(api, login)
    assert _code_step(api, first, code).status_code == 200
    replay = _code_step(api, second, code)
    assert (replay.status_code, replay.json()["code"]) == (400, "invalid_code")
    assert DeviceSession.objects.filter(revoked_at__isnull=True).count() == 2  # enrol + first


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_sign_ins_sending_one_code_at_once_exactly_one_wins(
    api: Any, user_with_totp: Enrolled, login: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two second steps with the same code, really at once: both read the device and match the
    code before either writes (a barrier proves it), then both try to spend it."""
    from rest_framework.test import APIClient

    code = user_with_totp.code()
    tokens = [_password_step(api, login), _password_step(api, login)]
    both_matched = threading.Barrier(2, timeout=15)
    original = mfa_verification.totp_step_matching

    def matched_together(**kwargs: Any) -> int | None:
        step = original(**kwargs)
        both_matched.wait()  # raises BrokenBarrierError if the other never got here
        return step

    monkeypatch.setattr(mfa_verification, "totp_step_matching", matched_together)
    results: list[Any] = []

    def second_step(mfa_token: str) -> None:
        try:
            results.append(_code_step(APIClient(), mfa_token, code))
        except BaseException as exc:  # pragma: no cover - the barrier broke
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=second_step, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(getattr(r, "status_code", r) for r in results)
    assert statuses == [200, 400], results
    [refused] = [r for r in results if r.status_code == 400]
    assert refused.json()["code"] == "invalid_code"
    assert DeviceSession.objects.filter(revoked_at__isnull=True).count() == 2  # enrol + winner
    assert TotpDevice.objects.get().last_used_step is not None


def test_a_membership_removed_between_the_password_and_the_code_step_is_refused(
    api: Any, user_with_totp: Enrolled, login: Any
) -> None:
    acme = Tenant.objects.create(name="Acme", slug="acme")
    Membership.objects.create(
        tenant=acme, user=user_with_totp.user, role=Role.objects.get(name="member")
    )
    mfa_token = _password_step(api, login, tenant="acme")
    Membership.objects.filter(tenant=acme).delete()
    refused = _code_step(api, mfa_token, user_with_totp.code())
    assert (refused.status_code, refused.json()["code"]) == (403, "not_a_member")
    assert not DeviceSession.objects.filter(tenant=acme).exists()
    assert DeviceSession.objects.count() == 1  # only the enrolment's


def test_a_password_changed_between_the_check_and_the_lock_refuses_the_sign_in(
    api: Any, user: Any, login: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password was right when checked; a reset committed before the login took the row
    lock: the login must not open a session on the strength of the old password."""
    from iam.authn import flows

    original = flows.user_lock

    def reset_then_lock(**kwargs: Any) -> Any:
        user.set_password("a brand new passphrase")
        user.save(update_fields=["password"])
        return original(**kwargs)

    monkeypatch.setattr(flows, "user_lock", reset_then_lock)
    refused = login(api, password=PASSWORD)
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_credentials")
    assert not DeviceSession.objects.exists()


def test_mfa_turned_on_between_the_check_and_the_lock_asks_for_the_code(
    api: Any, user: Any, login: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MFA enabled after the password check but before the lock: the login sees it after the
    lock and asks for the second factor; no tokens, no session."""
    from iam.authn import flows
    from iam.core.crypto import encrypt

    original = flows.user_lock

    def enable_then_lock(**kwargs: Any) -> Any:
        from django.utils import timezone

        TotpDevice.objects.create(
            user=user, secret_encrypted=encrypt(b"JBSWY3DPEHPK3PXP"), confirmed_at=timezone.now()
        )
        return original(**kwargs)

    monkeypatch.setattr(flows, "user_lock", enable_then_lock)
    answer = login(api)
    assert answer.status_code == 200, answer.content
    assert answer.json()["mfa_required"] is True
    assert "access" not in answer.json()
    assert not DeviceSession.objects.exists()
