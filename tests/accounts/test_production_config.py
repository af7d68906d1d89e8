"""Review: production configuration and the published contract."""

from __future__ import annotations

import pytest
from django.core.checks import ERROR, run_checks

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.mail.backends.console.EmailBackend",
        "iam.core.mail_console.ReadableConsoleBackend",  # what consolemail:// gives
        "django.core.mail.backends.filebased.EmailBackend",  # filemail://
        "django.core.mail.backends.locmem.EmailBackend",  # memorymail://
        "django.core.mail.backends.dummy.EmailBackend",
    ],
)
def test_the_console_mailer_is_refused_when_debug_is_off(settings, backend):
    """EMAIL_URL defaults to consolemail:// with no check: a production deploy that forgets it
    prints every reset and verification link (a bearer secret) into the worker's log and
    delivers nothing, while the task reports success."""
    settings.DEBUG = False
    settings.MAILERS = {"default": {"BACKEND": backend, "OPTIONS": {}}}
    errors = [e for e in run_checks() if e.level >= ERROR]
    assert any("mail" in f"{e.msg} {e.hint}".lower() for e in errors), errors


def test_the_schema_says_delete_me_needs_the_password(api, db):
    """DELETE /api/auth/me/ needs {"password"}, but the OpenAPI operation has no requestBody."""
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert "requestBody" in schema["paths"]["/api/auth/me/"]["delete"]
