"""The limits of the account endpoints an anonymous caller can use to cause mail or hashing, and
of sign-in (per client IP and per account), which the API's login and the Django admin's login
form (``login_rate_take``) share."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from iam.accounts.lockout import login_account_key
from iam.accounts.models import User
from iam.accounts.selectors import user_get_by_login
from iam.core.http import ip_bucket
from iam.core.identifiers import identifier_key
from iam.core.throttles import LiveRateThrottle


class AccountMailThrottle(LiveRateThrottle):
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
        address = identifier_key(email)  # every spelling of one address counts as one
        ident = f"{type(view).__name__}:{address}:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class RegisterIPThrottle(LiveRateThrottle):
    """Registrations per client IP: each costs a password hash and a mail."""

    scope = "register_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginIPThrottle(LiveRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginAccountThrottle(LiveRateThrottle):
    """Per account: keyed by the account the identifier resolves to, so e-mail vs username,
    any spelling or a JSON number instead of a string all count against the same bucket.
    Identifiers of no account are counted by their comparison key (``login_account_key``)."""

    scope = "login_account"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        identifier = login_identifier(request)
        if identifier is None:
            return None
        ident = login_account_key(login_account(request, identifier), identifier)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def login_identifier(request: Request) -> str | None:
    """The identifier a sign-in body names (``email``, else ``username``; a JSON number as its
    text), before validation: what the per-account limit counts by. None for none."""
    data = request.data if isinstance(request.data, dict) else {}
    identifier = data.get("email") or data.get("username")
    if isinstance(identifier, int | float) and not isinstance(identifier, bool):
        identifier = str(identifier)
    if not isinstance(identifier, str) or not identifier.strip():
        return None
    return identifier


def login_rate_take(*, ip: str | None, account_key: str | None) -> float:
    """Count one sign-in attempt that does not go through a DRF view (the Django admin's login
    form) in the very buckets of ``LoginIPThrottle`` and ``LoginAccountThrottle``: a mix of API
    and admin attempts shares one allowance. Seconds to wait (0: the attempt may go on); a
    refused attempt is not counted. ``account_key`` is ``login_account_key`` (None when the
    form names no account, which the API does not count either)."""
    wait = 0.0
    for throttle, ident in (
        (LoginIPThrottle(), ip_bucket(ip)),
        (LoginAccountThrottle(), account_key),
    ):
        if throttle.rate is None or ident is None:
            continue
        _, throttled = throttle.take(
            throttle.cache_format % {"scope": throttle.scope, "ident": ident}
        )
        wait = max(wait, throttled)
    return wait


def login_account(request: Request, identifier: str) -> User | None:
    """The account ``identifier`` names, looked up once per request (throttle and flow share it)."""
    memo: dict[str, User | None] = request._request.__dict__.setdefault("_iam_login_accounts", {})
    key = identifier.strip()
    if key not in memo:
        memo[key] = user_get_by_login(identifier=key)
    return memo[key]
