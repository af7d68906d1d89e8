from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache
from rest_framework.test import APIClient

from iam.accounts.models import User
from iam.core.ratelimit import ratelimit_cache
from iam.core.throttles import throttle_leases_clear
from iam.sessions.auth_state import local_state, pending_broadcasts_clear
from iam.tokens import services as key_services
from iam.tokens.keys import key_ring_clear
from iam.tokens.verification import access_token_cache

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def _rsa_pool() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(8)]


@pytest.fixture(autouse=True)
def _isolated_process_state(
    _rsa_pool: list[rsa.RSAPrivateKey], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Per-process caches outlive a test's rolled-back database: start every test clean.

    Key generation draws from a pool made once per run (RSA generation is slow, not under test).
    """
    pool = itertools.cycle(_rsa_pool)
    monkeypatch.setattr(key_services.rsa, "generate_private_key", lambda **kw: next(pool))
    key_ring_clear()
    access_token_cache.clear()
    local_state.drop()
    pending_broadcasts_clear()
    cache.clear()
    ratelimit_cache.reset()
    throttle_leases_clear()
    yield
    key_ring_clear()
    access_token_cache.clear()


@pytest.fixture
def keys(db: Any) -> key_services.RotationReport:
    """An active signing key and a prepublished next key."""
    return key_services.signing_keys_rotate()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def browser() -> APIClient:
    """A client that enforces CSRF like a browser-facing deployment does."""
    return APIClient(enforce_csrf_checks=True)


@pytest.fixture
def user(db: Any) -> User:
    return User.objects.create_user(
        email="alice@example.com", password=PASSWORD, username="alice", email_verified=True
    )


@pytest.fixture
def login(keys: Any) -> Callable[..., Any]:
    """``login(client, transport=..., email=..., password=...)`` -> the login response."""

    def _login(
        client: APIClient,
        *,
        transport: str = "body",
        email: str = "alice@example.com",
        password: str = PASSWORD,
        tenant: str | None = None,
        **extra: Any,
    ) -> Any:
        body = {"email": email, "password": password, "transport": transport}
        if tenant is not None:
            body["tenant"] = tenant
        return client.post("/api/auth/login/", body, format="json", **extra)

    return _login


@pytest.fixture
def tokens(api: APIClient, user: User, login: Callable[..., Any]) -> dict[str, Any]:
    """A body-transport login: ``{"access", "refresh", ...}``."""
    response = login(api)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access: str) -> dict[str, str]:
    """Request headers that present ``access`` as a bearer token."""
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def me(api: APIClient, access: str) -> Any:
    """``GET /api/auth/me/`` with ``access``."""
    return api.get("/api/auth/me/", **bearer(access))


def csrf_headers(client: APIClient) -> dict[str, str]:
    """What a same-origin SPA sends: the CSRF cookie's value in the header."""
    client.get("/api/auth/csrf/")
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


@pytest.fixture
def outbox() -> list[Any]:
    """The mails sent during the test (the locmem mailer; tasks run immediately in tests)."""
    from django.core import mail

    mail.outbox = []
    return mail.outbox


def link_token(message: Any) -> str:
    """The token of the link in an account mail (text part)."""
    import re
    from urllib.parse import unquote

    found = re.search(r"token=([^\s\"<&]+)", message.body)
    assert found, message.body
    return unquote(found.group(1))


class SmtpInbox:
    """What a real SMTP server on loopback received (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def text_bodies(self) -> list[Any]:
        """The text part of each mail, as objects with ``.body`` (for ``link_token``)."""
        from email import message_from_bytes, policy
        from types import SimpleNamespace

        return [
            SimpleNamespace(
                body=message_from_bytes(e.content, policy=policy.default)
                .get_body(preferencelist=("plain",))
                .get_content()
            )
            for e in self.envelopes
        ]


@pytest.fixture
def smtp_inbox(settings: Any) -> Iterator[SmtpInbox]:
    """A real SMTP server on 127.0.0.1 that the default mailer sends to."""
    import socket

    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    with socket.socket() as probe:  # a free port (aiosmtpd cannot start on port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }
    try:
        yield inbox
    finally:
        controller.stop()
