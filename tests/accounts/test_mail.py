"""Account mail delivery: a task, retried, never lost silently, never in the request path."""

from __future__ import annotations

import logging
import smtplib
from pathlib import Path

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from iam.accounts.mail import MailKind, account_mail_build
from iam.accounts.models import User
from iam.audit.models import AuditEvent
from tests.conftest import PASSWORD, link_token

pytestmark = pytest.mark.django_db

REGISTER = {"email": "bob@example.com", "password": PASSWORD}
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


class FailingBackend:
    """A mailer whose server is down."""

    calls = 0

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        type(self).calls += 1
        raise smtplib.SMTPServerDisconnected("connection refused")


@pytest.fixture
def failing_mailer(settings):
    FailingBackend.calls = 0
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.FailingBackend"}}
    return FailingBackend


def test_a_failed_send_is_retried_then_logged_and_audited(api, keys, failing_mailer, caplog):
    with caplog.at_level(logging.INFO, logger="iam.mail"):
        response = api.post("/api/auth/register/", REGISTER, format="json")
    assert response.status_code == 201  # the request does not fail with the mail server
    assert failing_mailer.calls == 5  # IAM_MAIL_MAX_ATTEMPTS
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "iam.mail"]
    assert len(warnings) == 4
    assert len(errors) == 1
    assert "failed for good" in errors[0].getMessage()
    event = AuditEvent.objects.get(type="system:mail:failed")
    assert event.user.email == "bob@example.com"
    assert event.data == {"kind": "verify_email", "attempts": 5, "error": "SMTPServerDisconnected"}
    # nothing secret in the logs
    assert all("token" not in r.getMessage() for r in caplog.records)


def test_a_send_that_recovers_is_not_an_error(api, keys, settings, outbox, caplog):
    class FlakyOnce(FailingBackend):
        def send_messages(self, messages):
            type(self).calls += 1
            if type(self).calls == 1:
                raise smtplib.SMTPServerDisconnected("blip")
            from django.core import mail

            mail.outbox.extend(messages)
            return len(messages)

    FlakyOnce.calls = 0
    globals()["FlakyOnce"] = FlakyOnce
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.FlakyOnce"}}
    api.post("/api/auth/register/", REGISTER, format="json")
    assert FlakyOnce.calls == 2
    assert [m.to for m in outbox] == [["bob@example.com"]]
    assert not AuditEvent.objects.filter(type="system:mail:failed").exists()


@pytest.mark.django_db(transaction=True)  # the worker manages its own connection
def test_with_the_database_backend_the_request_only_queues_the_mail(api, keys, settings, outbox):
    settings.TASKS = DATABASE_TASKS
    response = api.post("/api/auth/register/", REGISTER, format="json")
    assert response.status_code == 201
    assert outbox == []  # nothing was sent in the request
    [queued] = DBTaskResult.objects.all()
    assert queued.status == "READY"
    assert "token" not in str(queued.args_kwargs)  # no secret waits in the queue
    call_command("db_worker", "--batch", "--queue-name", "default", verbosity=0)
    assert [m.to for m in outbox] == [["bob@example.com"]]
    queued.refresh_from_db()
    assert queued.status == "SUCCESSFUL"
    verified = api.post("/api/auth/verify-email/", {"token": link_token(outbox[0])}, format="json")
    assert verified.status_code == 200


@pytest.mark.django_db(transaction=True)  # the worker manages its own connection
def test_with_the_database_backend_a_failure_is_retried_later(
    api, keys, settings, failing_mailer, time_machine
):
    settings.TASKS = DATABASE_TASKS
    api.post("/api/auth/register/", REGISTER, format="json")
    call_command("db_worker", "--batch", "--queue-name", "default", verbosity=0)
    assert failing_mailer.calls == 1
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.run_after is not None
    assert retry.args_kwargs["kwargs"]["attempt"] == 2
    call_command("db_worker", "--batch", "--queue-name", "default", verbosity=0)
    assert failing_mailer.calls == 1  # not due yet


def test_operators_can_override_the_templates(user, settings, tmp_path: Path):
    folder = tmp_path / "iam" / "email"
    folder.mkdir(parents=True)
    (folder / "password_reset_subject.txt").write_text("Custom subject for {{ product_name }}")
    (folder / "password_reset.txt").write_text("Go to {{ link }}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    settings.IAM_PRODUCT_NAME = "Acme ID"
    message = account_mail_build(kind=MailKind.PASSWORD_RESET, user=user)
    assert message.subject == "Custom subject for Acme ID"
    assert message.body.startswith("Go to https://app.iam.test/reset-password?token=")
    assert "Acme ID" in message.alternatives[0].content  # the HTML part keeps the default


def test_register_mail_verify_login_through_a_real_smtp_server(api, keys, smtp_inbox):
    """End to end over SMTP on loopback: register -> the mail arrives -> verify -> login."""
    assert api.post("/api/auth/register/", REGISTER, format="json").status_code == 201
    [envelope] = smtp_inbox.envelopes
    assert envelope.rcpt_tos == ["bob@example.com"]
    [mail] = smtp_inbox.text_bodies()
    token = link_token(mail)
    assert api.post("/api/auth/verify-email/", {"token": token}, format="json").status_code == 200
    login = api.post("/api/auth/login/", {**REGISTER, "transport": "body"}, format="json")
    assert login.status_code == 200
    assert User.objects.get(email="bob@example.com").email_verified
