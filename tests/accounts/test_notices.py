"""Security notices by mail: new-device sign-ins, password changes, MFA changes."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from iam.accounts.models import User
from tests.conftest import PASSWORD, link_token

pytestmark = pytest.mark.django_db
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def _subjects(outbox: list) -> list[str]:
    return [m.subject for m in outbox]


def test_a_sign_in_from_a_new_device_is_mailed_with_when_where_and_what(
    api: Any, user: User, login: Any, outbox: list
) -> None:
    login(api, HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="198.51.100.4")  # the first sign-in: no news
    login(api, HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="198.51.100.5")  # a known device
    assert outbox == []
    tokens = login(api, HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="203.0.113.77").json()
    assert len(outbox) == 1
    mail = outbox[0]
    assert mail.to == [user.email]
    assert "new sign-in" in mail.subject
    assert "Mobile Safari" in mail.subject
    assert "203.0.113.77" in mail.body
    assert "iOS 17.5" in mail.body
    assert tokens["access"] not in mail.body
    assert tokens["refresh"] not in mail.body


def test_new_device_notices_can_be_turned_off(
    api: Any, user: User, login: Any, outbox: list, settings: Any
) -> None:
    settings.IAM_NOTIFY_NEW_DEVICE = False
    login(api, HTTP_USER_AGENT=FIREFOX)
    login(api, HTTP_USER_AGENT=IPHONE)
    assert outbox == []


def test_password_change_and_reset_are_mailed(
    api: Any, user: User, tokens: dict, outbox: list
) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    new = "a new and long passphrase 1"
    changed = api.post(
        "/api/auth/password/change/",
        {"current_password": PASSWORD, "new_password": new},
        format="json",
        **auth,
    )
    assert changed.status_code in (200, 204)
    assert _subjects(outbox) == ["IAM: your password was changed"]
    api.post("/api/auth/password/reset/", {"email": user.email}, format="json")
    api.post(
        "/api/auth/password/reset/confirm/",
        {"token": link_token(outbox[-1]), "password": "yet another passphrase 2"},
        format="json",
    )
    assert _subjects(outbox)[-1] == "IAM: your password was changed"


def test_password_notices_can_be_turned_off(
    api: Any, user: User, tokens: dict, outbox: list, settings: Any
) -> None:
    settings.IAM_NOTIFY_PASSWORD_CHANGE = False
    api.post(
        "/api/auth/password/change/",
        {"current_password": PASSWORD, "new_password": "a new and long passphrase 1"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {tokens['access']}",
    )
    assert outbox == []


def test_mfa_changes_are_mailed(
    api: Any, user: User, tokens: dict, outbox: list, settings: Any
) -> None:
    from django.core.management import call_command

    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    app = pyotp.parse_uri(
        api.post("/api/auth/mfa/totp/setup/", {}, format="json", **auth).json()["otpauth_uri"]
    )
    codes = api.post(
        "/api/auth/mfa/totp/enable/", {"code": app.now()}, format="json", **auth
    ).json()["backup_codes"]
    api.post("/api/auth/mfa/backup-codes/", {"code": codes[0]}, format="json", **auth)
    call_command("reset_mfa", user.email, "--operator", "ops")
    bodies = [m.body for m in outbox]
    assert _subjects(outbox) == ["IAM: your two-factor settings changed"] * 3
    assert "turned on" in bodies[0]
    assert "new backup codes" in bodies[1]
    assert "by an administrator" in bodies[2]
    for code in codes:
        assert all(code not in body for body in bodies)
    settings.IAM_NOTIFY_MFA_CHANGE = False
    outbox.clear()
    fresh = api.post(
        "/api/auth/login/",
        {"email": user.email, "password": PASSWORD, "transport": "body"},
        format="json",
    ).json()
    app = pyotp.parse_uri(
        api.post(
            "/api/auth/mfa/totp/setup/",
            {},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {fresh['access']}",
        ).json()["otpauth_uri"]
    )
    api.post(
        "/api/auth/mfa/totp/enable/",
        {"code": app.now()},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {fresh['access']}",
    )
    assert outbox == []


def test_a_sign_in_with_a_second_factor_from_a_new_device_is_mailed_once(
    api: Any, user: User, login: Any, outbox: list
) -> None:
    """The second step opens the session in another request than the password step: it asks
    on its own whether the device is known, not counting the session it just opened."""
    from tests.mfa.conftest import enrol

    with time_machine.travel(timezone.now(), tick=False) as clock:
        tokens = login(api, HTTP_USER_AGENT=FIREFOX).json()
        app, _ = enrol(api, tokens["access"])
        outbox.clear()
        for expected_mails in (1, 1):  # a new device, then the same one again
            clock.shift(30)  # the next TOTP step: a code is spent once
            first = login(api, HTTP_USER_AGENT=IPHONE).json()
            second = api.post(
                "/api/auth/login/mfa/",
                {"mfa_token": first["mfa_token"], "code": app.now()},
                format="json",
                HTTP_USER_AGENT=IPHONE,
            )
            assert second.status_code == 200, second.content
            assert len(outbox) == expected_mails
    assert "Mobile Safari" in outbox[0].subject


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locking semantics need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("earlier", "first", "second"),
    [
        (None, FIREFOX, IPHONE),  # the account's first sign-in, and a new device meanwhile
        (FIREFOX, IPHONE, IPHONE),  # one new device, signing in twice at once
    ],
    ids=["beside-the-first-sign-in", "one-new-device-twice"],
)
def test_a_sign_in_waiting_for_another_sees_its_session(
    user: User, keys: Any, outbox: list, monkeypatch: pytest.MonkeyPatch, earlier, first, second
) -> None:
    """Found in review: the device history was read in the statement that locks the user's
    row, whose snapshot PostgreSQL takes before the wait. A sign-in that waited for another
    missed that one's session: no notice for a new device that signed in beside the account's
    first sign-in, and two for one new device. Now it is read after the lock."""
    import threading

    from django.db import connections

    from iam.authn import flows
    from iam.core.http import ClientInfo
    from tests.overlap import backend_pid, wait_until_blocked

    def sign_in(agent: str) -> None:
        flows.login_with_password(
            user=User.objects.get(pk=user.pk),
            identifier=user.email,
            password=PASSWORD,
            transport="body",
            client=ClientInfo(ip="198.51.100.7", user_agent=agent),
        )

    if earlier:
        sign_in(earlier)
    outbox.clear()
    opened = threading.Event()
    pids: dict[str, int] = {}
    original = flows.sign_in_notice_enqueue

    def held_notice(**kwargs: Any) -> None:
        original(**kwargs)
        if threading.current_thread().name == "first":
            opened.set()
            # the session is open, the row locked, nothing committed: go on only once the
            # second sign-in provably waits for this lock
            wait_until_blocked(lambda: pids.get("second"))

    monkeypatch.setattr(flows, "sign_in_notice_enqueue", held_notice)
    errors: list[BaseException] = []

    def run(agent: str, wait: bool) -> None:
        try:
            if wait:
                pids["second"] = backend_pid()
                assert opened.wait(15)
            sign_in(agent)
        except BaseException as exc:  # pragma: no cover - would be the bug
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(first, False), name="first"),
        threading.Thread(target=run, args=(second, True), name="second"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(outbox) == 1
    assert "Mobile Safari" in outbox[0].subject
