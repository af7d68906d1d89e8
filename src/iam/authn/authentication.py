"""IAMAuthentication: the one authentication boundary for both transports."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from iam.accounts.models import User
from iam.authn.csrf import enforce_csrf
from iam.core.conf import iam_settings
from iam.core.exceptions import IAMError, TenantMismatch
from iam.sessions.auth_state import session_user_for_access
from iam.tenancy.context import TenantRef
from iam.tenancy.middleware import TENANT_HEADER
from iam.tokens.tokens import AccessToken
from iam.tokens.verification import access_token_validate


def raw_access_token(request: Request) -> tuple[str | None, bool]:
    """``(token, from_cookie)``: the ``Authorization: Bearer`` header wins over the access cookie.

    Tokens are never read from the query string.
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            credentials = credentials.strip()
            if not credentials or " " in credentials:
                raise exceptions.AuthenticationFailed(
                    "Malformed Authorization header.", code="token_not_valid"
                )
            return credentials, False
    cookie = request.COOKIES.get(iam_settings.access_cookie_name)
    return (cookie, True) if cookie else (None, False)


class IAMAuthentication(BaseAuthentication):
    """Access token from the bearer header or the HttpOnly access cookie.

    Yields ``request.user`` (the ``User`` of a live session) and ``request.auth`` (the validated
    ``AccessToken``). Cookie-authenticated unsafe requests must pass CSRF.
    Cost per request: a cached signature check (by token) and one indexed query (session + user),
    which is what makes revocation immediate.
    """

    def authenticate(self, request: Request) -> tuple[User, AccessToken] | None:
        raw, from_cookie = raw_access_token(request)
        if raw is None:
            return None
        try:
            token = access_token_validate(raw)
            user = session_user_for_access(token=token)
        except IAMError as exc:
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from exc
        if from_cookie:
            enforce_csrf(request._request)
        tenant = TenantRef.from_claims(token)
        asked = request.META.get(TENANT_HEADER, "").strip().lower()
        if asked and tenant is not None and asked != tenant.slug:
            raise exceptions.PermissionDenied(TenantMismatch.default_detail, TenantMismatch.code)
        request._request.tenant = tenant  # the token is the authority (iam.tenancy.context)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
