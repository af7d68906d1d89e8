"""Registration and e-mail verification through the HTTP API."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from tests.conftest import PASSWORD, link_token

pytestmark = pytest.mark.django_db

NEW = {"email": "bob@example.com", "password": PASSWORD}


def register(api, **body):
    return api.post("/api/auth/register/", {**NEW, **body}, format="json")


def test_register_creates_an_unverified_account_and_mails_a_link(api, keys, outbox, login):
    response = register(api, username="bob")
    assert response.status_code == 201
    assert response.json()["email"] == "bob@example.com"
    assert "access" not in response.json()
    assert "refresh_token" not in response.cookies
    user = User.objects.get(email="bob@example.com")
    assert user.username == "bob"
    assert not user.email_verified
    assert user.check_password(PASSWORD)
    [message] = outbox
    assert message.to == ["bob@example.com"]
    assert "verify" in message.subject.lower()
    assert "https://app.iam.test/verify-email?token=" in message.body
    assert message.alternatives[0].mimetype == "text/html"
    # no tokens until the address is verified
    assert login(api, email="bob@example.com").json()["code"] == "email_not_verified"

    response = api.post("/api/auth/verify-email/", {"token": link_token(message)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["email"] == "bob@example.com"
    user.refresh_from_db()
    assert user.email_verified
    assert login(api, email="bob@example.com").status_code == 200
    types = list(AuditEvent.objects.filter(user=user).values_list("type", flat=True))
    for event in (
        "user:account:registered",
        "user:email:verification_sent",
        "user:email:verified",
    ):
        assert event in types


def test_a_taken_address_gets_the_same_answer_and_its_owner_is_told(api, user, outbox):
    fresh = register(api, email="someone@example.com")
    taken = register(api, email="ALICE@example.com")
    assert taken.status_code == fresh.status_code == 201
    assert set(taken.json()) == set(fresh.json())
    assert taken.json()["detail"] == fresh.json()["detail"]
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    user.refresh_from_db()
    assert user.check_password(PASSWORD)  # nothing about the account changed
    to_alice = [m for m in outbox if m.to == ["alice@example.com"]]
    assert len(to_alice) == 1
    assert "tried to register" in to_alice[0].subject
    assert "token=" not in to_alice[0].body


def test_registering_an_unverified_address_again_takes_the_latest_password(
    api, keys, outbox, login
):
    """Nobody proved the address yet: the latest registration's password replaces the earlier
    one, and only the link sent for it verifies the account (links are bound to the password)."""
    register(api)
    register(api, password="another long passphrase")
    assert [m.to for m in outbox] == [["bob@example.com"], ["bob@example.com"]]
    first = api.post("/api/auth/verify-email/", {"token": link_token(outbox[0])}, format="json")
    assert first.status_code == 400
    assert first.json()["code"] == "token_used"
    second = api.post("/api/auth/verify-email/", {"token": link_token(outbox[1])}, format="json")
    assert second.status_code == 200
    assert login(api, email="bob@example.com").status_code == 401
    assert (
        login(api, email="bob@example.com", password="another long passphrase").status_code == 200
    )


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short pass", "password_too_short"),
        ("1q2w3e4r5t6y7u8i9o0p", "password_too_common"),
        ("bob@example.com!", "password_too_similar"),
        ("x" * 1025, "password_too_long"),
    ],
)
def test_weak_passwords_are_refused_with_per_field_messages(api, db, outbox, password, code):
    response = register(api, password=password)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "password_rejected"
    assert code in [error["code"] for error in body["fields"]["password"]]
    assert all(error["message"] for error in body["fields"]["password"])
    assert not User.objects.exists()
    assert outbox == []


@pytest.mark.parametrize(
    "password",
    [
        # long is fine (NIST: at least 64 characters accepted)
        "rivers of violet ink and a quiet harbour at dusk, " * 3,
        "all lower case words only",  # no composition rules
        "830519472261593817",  # no composition rules: digits only is not refused as such
    ],
)
def test_policy_accepts_long_and_plain_passphrases(api, db, password):
    assert register(api, password=password).status_code == 201


def test_the_minimum_length_is_configurable(api, db, settings):
    settings.IAM_PASSWORD_MIN_LENGTH = 20
    settings.AUTH_PASSWORD_VALIDATORS = [
        {
            "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
            "OPTIONS": {"min_length": 20},
        }
    ]
    assert register(api, password="fifteen chars!!").status_code == 400


def test_a_taken_username_is_refused_whatever_the_address(api, user):
    for email in ("new@example.com", "alice@example.com"):
        response = register(api, email=email, username="ALICE")
        assert response.status_code == 400
        assert response.json()["code"] == "username_taken"
        assert "username" in response.json()["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-address", "password": PASSWORD},
        {"email": "bob@example.com"},
        {"password": PASSWORD},
        {"email": ["bob@example.com"], "password": PASSWORD},
        {"email": "bob@example.com", "password": PASSWORD, "username": "bad name!"},
        {"email": "bob@example.com", "password": 12},
    ],
)
def test_bad_registration_input_is_a_clear_400(api, db, body):
    response = api.post("/api/auth/register/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"]
    assert response.json()["detail"]


def test_a_verification_link_works_once(api, keys, outbox):
    register(api)
    token = link_token(outbox[0])
    assert api.post("/api/auth/verify-email/", {"token": token}, format="json").status_code == 200
    again = api.post("/api/auth/verify-email/", {"token": token}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "token_used"


def test_a_verification_link_expires_after_24_hours(api, keys, outbox):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        register(api)
        token = link_token(outbox[0])
        clock.shift(24 * 3600 + 1)
        response = api.post("/api/auth/verify-email/", {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "token_expired"
    assert not User.objects.get(email="bob@example.com").email_verified


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: "x" + t,  # payload
        lambda t: "",
        lambda t: "garbage",
        lambda t: t.split(":")[0],
    ],
)
def test_tampered_verification_links_are_refused(api, keys, outbox, mangle):
    register(api)
    response = api.post(
        "/api/auth/verify-email/", {"token": mangle(link_token(outbox[0]))}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] in {"token_invalid", "invalid", "blank"}
    assert not User.objects.get(email="bob@example.com").email_verified


def test_a_reset_link_is_not_a_verification_link(api, keys, outbox):
    register(api)
    api.post("/api/auth/password/reset/", {"email": "bob@example.com"}, format="json")
    reset_token = link_token(outbox[-1])
    response = api.post("/api/auth/verify-email/", {"token": reset_token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "token_invalid"


def test_resend_answers_202_always_and_mails_only_unverified_accounts(api, user, outbox):
    register(api)
    outbox.clear()
    for email in ("bob@example.com", "alice@example.com", "nobody@example.com"):
        response = api.post("/api/auth/verify-email/resend/", {"email": email}, format="json")
        assert response.status_code == 202
        assert response.json()["detail"]
    assert [m.to for m in outbox] == [["bob@example.com"]]
    assert (
        api.post(
            "/api/auth/verify-email/", {"token": link_token(outbox[0])}, format="json"
        ).status_code
        == 200
    )


def test_mail_triggering_endpoints_are_throttled_per_address(api, db, outbox):
    codes = [
        api.post("/api/auth/verify-email/resend/", {"email": "X@example.com"}, format="json")
        for _ in range(4)
    ]
    assert [r.status_code for r in codes] == [202, 202, 202, 429]
    assert codes[-1].json()["code"] == "throttled"
    assert "Retry-After" in codes[-1]
    # another address is not affected
    other = api.post("/api/auth/verify-email/resend/", {"email": "y@example.com"}, format="json")
    assert other.status_code == 202
