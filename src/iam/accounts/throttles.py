"""The limits of the account endpoints an anonymous caller can use to cause mail or hashing."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

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
