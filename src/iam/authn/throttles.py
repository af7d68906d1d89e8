"""Rate limits, DRF throttles counting in the shared cache (``iam.core.ratelimit``: per process
while Redis is unreachable). Every limit answers ``429 throttled`` with ``Retry-After``. Throttles
run before the view, so the login limits are checked before any password hash is computed."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle
from rest_framework_simplejwt.exceptions import TokenError

from iam.accounts.models import User
from iam.accounts.selectors import user_get_by_login
from iam.authn.lockout import canonical_identifier, login_account_key
from iam.core.conf import iam_settings
from iam.core.crypto import sha256_hex
from iam.core.http import client_ip, ip_bucket
from iam.core.ratelimit import ratelimit_cache
from iam.tokens.tokens import RefreshToken


class _LiveRateThrottle(SimpleRateThrottle):
    """A DRF throttle that reads its rate from settings at use (DRF freezes THROTTLE_RATES at
    import) and counts in the rate-limit cache with a counter per fixed window: ``add`` +
    ``incr`` are atomic, so a burst of parallel requests cannot all pass (DRF's own
    read-decide-write of a timestamp list can), and the cost is the same at any rate. A burst at
    a window's edge can reach twice the rate across the two windows."""

    cache = ratelimit_cache

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        key = f"{self.key}:{window}"
        self.cache.add(key, 0, self.duration + 1)
        try:
            count = self.cache.incr(key)
        except ValueError:  # expired in between
            self.cache.set(key, 1, self.duration + 1)
            count = 1
        self._retry_at = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self) -> float:
        return max(1.0, self._retry_at - self.now)


class AnonThrottle(_LiveRateThrottle, AnonRateThrottle):
    """Every API request without credentials, per client IP (``IAM_THROTTLE_ANON``)."""

    scope = "anon"

    def get_ident(self, request: Request) -> str:
        return ip_bucket(client_ip(request))  # never DRF's raw X-Forwarded-For


class UserThrottle(_LiveRateThrottle, UserRateThrottle):
    """Every authenticated API request, per user (``IAM_THROTTLE_USER``)."""

    scope = "user"

    def get_ident(self, request: Request) -> str:
        return ip_bucket(client_ip(request))


class RefreshSessionThrottle(_LiveRateThrottle):
    """Refreshes per device session (``IAM_THROTTLE_REFRESH_SESSION``), keyed by the ``sid`` of a
    refresh token whose signature checked out (a forged token cannot spend a victim's
    allowance); unusable tokens (garbage, forged, expired) count per client IP at the same rate.
    The decoded token is kept on the request for the view."""

    scope = "refresh_session"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = refresh_token_of(request)
        if token is None:
            ident = f"ip:{ip_bucket(client_ip(request))}"
        else:
            ident = f"sid:{token.get('sid')}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def refresh_token_of(request: Request) -> RefreshToken | None:
    """The verified refresh token of the request (body ``refresh`` or the refresh cookie),
    decoded once per request."""
    memo = request._request.__dict__
    if "_iam_refresh_token" not in memo:
        data = request.data if isinstance(request.data, dict) else {}
        raw = data.get("refresh")
        if isinstance(raw, str):
            raw = raw.strip()  # as the view's serializer reads it
        if raw is None:
            raw = request.COOKIES.get(iam_settings.refresh_cookie_name)
        token = None
        if isinstance(raw, str) and 0 < len(raw) <= 8192:
            try:
                token = RefreshToken(raw)
            except TokenError:
                token = None
        memo["_iam_refresh_token"] = (raw, token)
    return memo["_iam_refresh_token"][1]


def refresh_token_verified(request: Request, raw: str) -> RefreshToken | None:
    """The token ``refresh_token_of`` verified, if it is ``raw`` (else None: decode again)."""
    memo = request._request.__dict__.get("_iam_refresh_token")
    return memo[1] if memo is not None and memo[0] == raw else None


class LoginIPThrottle(_LiveRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": ip_bucket(client_ip(request))}


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
        ident = login_account_key(login_account(request, identifier), identifier)
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
        address = sha256_hex(canonical_identifier(email))
        ident = f"{type(view).__name__}:{address}:{ip_bucket(client_ip(request))}"
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
        return self.cache_format % {"scope": self.scope, "ident": ip_bucket(client_ip(request))}
