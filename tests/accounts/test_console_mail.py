"""The development mailer (``consolemail://``): a mailed token can be copied as printed."""

from __future__ import annotations

import io
import re

import pytest
from django.core.mail import EmailMultiAlternatives

from iam.core.mail_console import ReadableConsoleBackend
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

READABLE = {"default": {"BACKEND": "iam.core.mail_console.ReadableConsoleBackend", "OPTIONS": {}}}


def test_a_token_copied_from_the_printed_mail_verifies_the_address(api, keys, settings, capsys):
    """What the README tells a newcomer to do: register, copy the token from the console,
    verify. Django's console mailer prints quoted-printable (``=3D``, soft line breaks) and the
    link used to percent-encode the token's ``:``: the copied token was refused."""
    settings.MAILERS = READABLE
    email = "newcomer@example.com"
    assert (
        api.post(
            "/api/auth/register/", {"email": email, "password": PASSWORD}, format="json"
        ).status_code
        == 201
    )
    printed = capsys.readouterr().out
    assert "Subject: IAM: verify your e-mail address" in printed
    assert f"To: {email}" in printed
    assert "=3D" not in printed
    token = re.search(r"token=(\S+)", printed).group(1)  # as printed: no decoding of any kind
    response = api.post("/api/auth/verify-email/", {"token": token}, format="json")
    assert response.status_code == 200, response.content
    login = api.post("/api/auth/login/", {"email": email, "password": PASSWORD}, format="json")
    assert login.status_code == 200


def test_the_readable_mailer_prints_headers_and_the_text_part():
    stream = io.StringIO()
    message = EmailMultiAlternatives(
        subject="Hello", body="Line one\nhttps://x.example/?token=a:b:c\n", to=["a@example.com"]
    )
    message.attach_alternative("<p>html</p>", "text/html")
    assert ReadableConsoleBackend(stream=stream).send_messages([message]) == 1
    out = stream.getvalue()
    assert out.startswith("Subject: Hello\nFrom: ")
    assert "To: a@example.com\nAlso as: text/html (not shown)\n\nLine one\n" in out
    assert "https://x.example/?token=a:b:c\n" in out
    assert "<p>html</p>" not in out
