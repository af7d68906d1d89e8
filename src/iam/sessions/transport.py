"""How a session's tokens travel: HttpOnly cookies for browsers, the JSON body for apps (per
session), and the token response every endpoint that issues tokens answers with."""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.response import Response

from iam.core.conf import iam_settings
from iam.sessions.models import Transport
from iam.sessions.services import IssuedTokens

# The pending second step of a browser sign-in that began at an identity provider: its
# ``mfa_token`` travels in this HttpOnly cookie (Path /api/auth/), never in a URL.
MFA_PENDING_COOKIE = "mfa_pending"


def token_body(issued: IssuedTokens) -> dict[str, Any]:
    """The JSON part of a token response, by the session's transport."""
    transport = issued.session.transport
    body: dict[str, Any] = {"token_type": "Bearer", "expires_in": issued.access_expires_in}
    if transport in (Transport.HYBRID, Transport.BODY):
        body["access"] = issued.access
    if transport == Transport.BODY and issued.refresh is not None:
        body["refresh"] = issued.refresh
    return body


def set_token_cookies(response: HttpResponse, issued: IssuedTokens) -> None:
    """Set the HttpOnly cookies the session's transport calls for."""
    transport = issued.session.transport
    common: dict[str, Any] = {
        "secure": iam_settings.cookie_secure,
        "httponly": True,
        "samesite": "Lax",
        "domain": iam_settings.cookie_domain,
    }
    if transport == Transport.COOKIE:
        response.set_cookie(
            iam_settings.access_cookie_name,
            issued.access,
            max_age=issued.access_expires_in,
            path="/",
            **common,
        )
    if transport in (Transport.COOKIE, Transport.HYBRID) and issued.refresh is not None:
        assert issued.refresh_expires_at is not None
        max_age = math.ceil((issued.refresh_expires_at - timezone.now()).total_seconds())
        response.set_cookie(
            iam_settings.refresh_cookie_name,
            issued.refresh,
            max_age=max(max_age, 0),
            path=iam_settings.refresh_cookie_path,
            **common,
        )


def clear_token_cookies(response: HttpResponse) -> None:
    """Expire both cookies, with the same flags they were set with."""
    for name, path in (
        (iam_settings.access_cookie_name, "/"),
        (iam_settings.refresh_cookie_name, iam_settings.refresh_cookie_path),
    ):
        response.set_cookie(
            name,
            "",
            max_age=0,
            expires="Thu, 01 Jan 1970 00:00:00 GMT",
            path=path,
            domain=iam_settings.cookie_domain,
            secure=iam_settings.cookie_secure,
            httponly=True,
            samesite="Lax",
        )


def refresh_cookie(request: HttpRequest) -> str | None:
    return request.COOKIES.get(iam_settings.refresh_cookie_name) or None


class TokenResponse(serializers.Serializer):
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    access = serializers.CharField(required=False, help_text="hybrid and body transports")
    refresh = serializers.CharField(required=False, help_text="body transport")


def token_response(issued: IssuedTokens, *, extra: dict[str, Any] | None = None) -> Response:
    """The answer of an endpoint that issued tokens: the body and cookies by the transport."""
    response = Response({**token_body(issued), **(extra or {})})
    set_token_cookies(response, issued)
    return response
