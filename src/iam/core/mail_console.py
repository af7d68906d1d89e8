"""The development mailer (``EMAIL_URL=consolemail://``, the default): each mail's headers and
its plain-text part as written, one mail after another on standard output.

Django's console mailer prints the encoded MIME message; for links that is quoted-printable,
with ``=`` line breaks and ``=3D`` inside the very tokens a developer copies. Only the
presentation differs: mails are built and sent the same way as with any other mailer.
"""

from __future__ import annotations

from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend


class ReadableConsoleBackend(EmailBackend):
    def write_message(self, message: EmailMessage) -> None:
        headers = {"Subject": message.subject, "From": message.from_email}
        headers["To"] = ", ".join(message.to)
        if message.cc:
            headers["Cc"] = ", ".join(message.cc)
        alternatives = [mimetype for _, mimetype in getattr(message, "alternatives", [])]
        if alternatives:
            headers["Also as"] = ", ".join(alternatives) + " (not shown)"
        lines = [f"{name}: {value}" for name, value in headers.items()]
        self.stream.write("\n".join(lines) + "\n\n" + message.body.rstrip() + "\n")
        self.stream.write("-" * 79 + "\n")
