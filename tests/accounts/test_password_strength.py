"""Password screening by guessability (zxcvbn): everywhere a password is set, with a reason."""

from __future__ import annotations

import builtins
import getpass
from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from iam.accounts import passwords
from iam.accounts.models import User
from tests.conftest import PASSWORD, link_token

pytestmark = pytest.mark.django_db

GUESSABLE = ["123456789012", "qwertyuiopas", "aaaaaaaaaaaa"]  # sequence, keyboard row, repeat
PASSPHRASE = "rivers of violet ink at dusk"


def register(api, password, email="bob@example.com"):
    return api.post("/api/auth/register/", {"email": email, "password": password}, format="json")


def codes(response, field="password"):
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "password_rejected"
    return [entry["code"] for entry in response.json()["fields"][field]]


@pytest.mark.parametrize("password", GUESSABLE)
def test_registration_refuses_guessable_passwords_with_the_reason(api, db, password):
    response = register(api, password)
    assert codes(response) == ["password_too_common"]
    [entry] = response.json()["fields"]["password"]
    assert entry["message"].startswith("This password is too easy to guess.")
    assert len(entry["message"]) > len("This password is too easy to guess.")  # zxcvbn's why
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "password", [PASSPHRASE, "correct horse battery staple", "830519472261593817"]
)
def test_registration_accepts_a_long_passphrase(api, db, password):
    assert register(api, password).status_code == 201


def test_password_reset_refuses_a_guessable_password(api, user, outbox):
    api.post("/api/auth/password/reset/", {"email": user.email}, format="json")
    token = link_token(outbox[-1])
    response = api.post(
        "/api/auth/password/reset/confirm/",
        {"token": token, "password": "qwertyuiopas"},
        format="json",
    )
    assert codes(response) == ["password_too_common"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_password_change_refuses_a_guessable_password(api, user, tokens):
    response = api.post(
        "/api/auth/password/change/",
        {"current_password": PASSWORD, "new_password": "123456789012"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {tokens['access']}",
    )
    assert codes(response, "new_password") == ["password_too_common"]


def test_the_accounts_own_words_are_reported_as_too_similar(db):
    user = User(email="alice@example.com", username="alice")
    with pytest.raises(ValidationError) as refused:
        passwords.StrengthValidator().validate("alice@example.com1", user)
    assert refused.value.code == "password_too_similar"
    assert "e-mail address, username or name" in refused.value.messages[0]
    # the same password for someone else is guessable for other reasons, or not at all
    passwords.StrengthValidator().validate("alice@example.com1x7", User(email="z@example.org"))


def test_the_minimum_score_is_configurable(api, db, settings):
    settings.IAM_PASSWORD_MIN_SCORE = 0  # the estimate is off
    assert register(api, "qwertyuiopas").status_code == 201
    settings.IAM_PASSWORD_MIN_SCORE = 4
    assert passwords.password_strength(password="Summer2024!!x")["score"] == 3
    assert codes(register(api, "Summer2024!!x", email="carol@example.com")) == [
        "password_too_common"
    ]


@pytest.mark.parametrize("score", [-1, 5])
def test_a_minimum_score_out_of_range_is_a_startup_error(settings, score):
    settings.IAM_PASSWORD_MIN_SCORE = score
    assert "iam.E012" in {e.id for e in run_checks(databases=[])}


def test_the_estimator_sees_a_bounded_prefix_only(api, db, monkeypatch):
    """zxcvbn's cost grows with the square of the length: a maximum-length password (and one
    over it, refused as too long) must cost what 72 characters cost. The real estimator also
    raises on longer input, which would be a 500."""
    seen = []
    real = passwords.zxcvbn

    def recording(password, user_inputs=None):
        seen.append(len(password))
        return real(password, user_inputs=user_inputs)

    monkeypatch.setattr(passwords, "zxcvbn", recording)
    longest = (PASSPHRASE + " ") * 40
    at_maximum = longest[:1024]
    assert register(api, at_maximum).status_code == 201
    over = register(api, longest, email="dan@example.com")  # 1160: over the maximum
    assert "password_too_long" in codes(over)
    assert seen
    assert max(seen) <= passwords.ESTIMATED_CHARS == 72


def test_a_maximum_length_password_is_estimated_by_the_real_library(api, db):
    assert register(api, ((PASSPHRASE + " ") * 40)[:1024]).status_code == 201
    assert codes(register(api, "a" * 1024, email="erin@example.com")) == ["password_too_common"]


def test_createsuperuser_noinput_checks_the_password(monkeypatch):
    """Django does not check ``DJANGO_SUPERUSER_PASSWORD`` at all."""
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "aaaaaaaaaaaa")
    with pytest.raises(CommandError, match="too easy to guess"):
        call_command("createsuperuser", "--noinput", "--email", "ops@example.com")
    assert not User.objects.exists()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSPHRASE)
    call_command("createsuperuser", "--noinput", "--email", "ops@example.com", stdout=StringIO())
    assert User.objects.get().check_password(PASSPHRASE)


def test_createsuperuser_refuses_a_guessable_password_even_when_told_to_bypass(monkeypatch):
    """Django's interactive command offers "Bypass password validation and create user
    anyway?"; answering yes must not get a guessable password into an operator account."""

    class TTY(StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "qwertyuiopas")
    monkeypatch.setattr(builtins, "input", lambda prompt="": "y")
    with pytest.raises(CommandError, match="too easy to guess"):
        call_command(
            "createsuperuser",
            "--email",
            "ops@example.com",
            stdin=TTY(),
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert not User.objects.exists()


def test_the_admin_refuses_a_guessable_password(client):
    admin = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client.force_login(admin)
    form = {
        "email": "new@example.com",
        "usable_password": "true",
        "password1": "123456789012",
        "password2": "123456789012",
    }
    response = client.post("/admin/iam_accounts/user/add/", form)
    assert response.status_code == 200  # the form again, with the error
    assert b"too easy to guess" in response.content
    assert not User.objects.filter(email="new@example.com").exists()
    form.update(password1=PASSPHRASE, password2=PASSPHRASE)
    assert client.post("/admin/iam_accounts/user/add/", form).status_code == 302
    assert User.objects.get(email="new@example.com").check_password(PASSPHRASE)
