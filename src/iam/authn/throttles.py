"""The limits of the refresh endpoints: refreshes per device session (the login limits, shared
with the admin's login form, live with the accounts: ``iam.accounts.throttles``; generic limits:
``iam.core.throttles``)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError

from iam.core.conf import iam_settings
from iam.core.throttles import LiveRateThrottle
from iam.tokens.tokens import RefreshToken


class RefreshSessionThrottle(LiveRateThrottle):
    """Refreshes per device session (``IAM_THROTTLE_REFRESH_SESSION``), keyed by the ``sid`` of a
    refresh token whose signature checked out (a forged token cannot spend a victim's
    allowance); unusable tokens (garbage, forged, expired) count per client IP at the same rate.
    The decoded token is kept on the request for the view."""

    scope = "refresh_session"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = refresh_token_of(request)
        ident = f"ip:{self.get_ident(request)}" if token is None else f"sid:{token.get('sid')}"
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
