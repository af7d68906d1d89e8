"""Login rate limits, checked before any password hash is computed (DRF runs throttles first)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from iam.accounts.models import User
from iam.accounts.selectors import user_get_by_login
from iam.core.crypto import sha256_hex
from iam.core.http import client_ip


class _LiveRateThrottle(SimpleRateThrottle):
    """Reads its rate from settings at use (DRF freezes THROTTLE_RATES at import)."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class LoginIPThrottle(_LiveRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}


class LoginAccountThrottle(_LiveRateThrottle):
    """Per account: keyed by the account the identifier resolves to, so e-mail vs username,
    letter case or a JSON number instead of a string all count against the same bucket.
    Identifiers of no account are counted by their case-folded text."""

    scope = "login_account"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        identifier = data.get("email") or data.get("username")
        if isinstance(identifier, int | float) and not isinstance(identifier, bool):
            identifier = str(identifier)
        if not isinstance(identifier, str) or not identifier.strip():
            return None
        user = login_account(request, identifier)
        ident = f"user:{user.pk}" if user else f"id:{sha256_hex(identifier.strip().casefold())}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def login_account(request: Request, identifier: str) -> User | None:
    """The account ``identifier`` names, looked up once per request (throttle and flow share it)."""
    memo: dict[str, User | None] = request._request.__dict__.setdefault("_iam_login_accounts", {})
    key = identifier.strip()
    if key not in memo:
        memo[key] = user_get_by_login(identifier=key)
    return memo[key]


class AccountMailThrottle(_LiveRateThrottle):
    """Mails an anonymous caller can trigger (register, resend, reset): per address, endpoint and
    client IP, whether or not the address has an account (so a 429 reveals nothing either). Per
    client so that a stranger cannot use up the owner's quota; the per-address total is bounded
    by the mail budget (``iam.accounts.mail``)."""

    scope = "account_mail"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        email = data.get("email")
        if not isinstance(email, str) or not email.strip():
            return None  # the serializer refuses it
        address = sha256_hex(email.strip().casefold())
        ident = f"{type(view).__name__}:{address}:{client_ip(request) or 'unknown'}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PasswordCheckThrottle(_LiveRateThrottle):
    """Checks of a signed-in user's current password (change, deletion): per user, so a stolen
    access token cannot be used to guess the password at speed."""

    scope = "password_check"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"user:{request.user.pk}"}


class RegisterIPThrottle(_LiveRateThrottle):
    """Registrations per client IP: each costs a password hash and a mail."""

    scope = "register_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}
