"""Authentication endpoints. Thin: parse input, call one flow or service, render by transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.middleware.csrf import rotate_token
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError

from iam.accounts.lockout import login_account_key, login_lockout_keys
from iam.accounts.serializers import UserSerializer, user_data
from iam.accounts.throttles import (
    LoginAccountThrottle,
    LoginIPThrottle,
    login_account,
    login_identifier,
)
from iam.authn.authentication import raw_access_token
from iam.authn.csrf import CSRF_TOKEN_HEADER, csrf_token_expose, enforce_csrf
from iam.authn.flows import login_with_password, login_with_second_factor
from iam.authn.throttles import RefreshSessionThrottle, refresh_token_verified
from iam.core.apis import (
    ERROR,
    PASSWORD_MAX,
    NoStoreAPIView,
    PublicAuthAPIView,
    limits_read_ahead,
)
from iam.core.conf import iam_settings
from iam.core.exceptions import IAMError, MfaTokenInvalid, TokenInvalid
from iam.core.http import client_info, client_ip
from iam.core.throttles import AnonThrottle
from iam.mfa.challenge import MfaChallengeStarted
from iam.sessions.apis import LogoutAllApi
from iam.sessions.auth_state import session_user_for_access
from iam.sessions.models import Transport
from iam.sessions.services import IssuedTokens, LogoutOutcome, session_logout, session_rotate
from iam.sessions.transport import (
    MFA_PENDING_COOKIE,
    TokenResponse,
    clear_token_cookies,
    refresh_cookie,
    token_response,
)
from iam.tenancy.middleware import tenant_named
from iam.tokens.tokens import RefreshToken
from iam.tokens.verification import access_token_validate


def csrf_token_header(status_code: int, when: str = "") -> OpenApiParameter:
    """The ``X-CSRFToken`` response header in the schema."""
    return OpenApiParameter(
        CSRF_TOKEN_HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[status_code],
        description="The CSRF token to send back in the X-CSRFToken request header; exposed to "
        f"the origins in CORS_ALLOWED_ORIGINS{when}.",
    )


REFRESH_MAX = 8192


def refresh_of_body(request: Request, serializer: type[serializers.Serializer]) -> str | None:
    """The body's ``refresh``, as ``serializer`` (a ``refresh`` CharField of at most
    REFRESH_MAX) would validate it, without building the serializer for the plain case that
    every refresh is: an ASCII string (a JWT), stripped, not empty. Anything else goes through
    the serializer, so its errors stay the serializer's."""
    data = request.data
    raw = data.get("refresh") if isinstance(data, dict) else None
    if isinstance(raw, str) and raw.isascii() and "\x00" not in raw:
        stripped = raw.strip()
        if 0 < len(stripped) <= REFRESH_MAX:
            return stripped
    checked = serializer(data=data)
    checked.is_valid(raise_exception=True)
    return checked.validated_data.get("refresh")


_TRANSPORTS = frozenset(Transport.values)


def _plain_text(value: Any, max_length: int, *, trim: bool = True) -> str | None:
    """``value`` as a CharField (not blank, at most ``max_length``) would give it back, when it
    is the plain case (an ASCII string without NUL); None for anything else (the serializer
    then decides)."""
    if not isinstance(value, str) or not value.isascii() or "\x00" in value:
        return None
    if trim:
        value = value.strip()
    return value if 0 < len(value) <= max_length else None


def login_input_of_body(request: Request) -> dict[str, Any] | None:
    """The login body as ``LoginApi.LoginInput`` would validate it, without building the
    serializer (its fields are deep-copied for every instance), for the plain case every
    sign-in is: a string e-mail address or username and password, a known ``transport``, no
    ``tenant``. None for anything else: the serializer then decides, and its errors stay its
    own (``tests/authn/test_login_input.py`` holds both to the same outcome)."""
    data = request.data
    if type(data) is not dict or "tenant" in data:  # a parsed JSON object, nothing else
        return None
    values: dict[str, Any] = {}
    for name, max_length in (("email", 254), ("username", 150)):
        if name in data:
            if (text := _plain_text(data[name], max_length)) is None:
                return None
            values[name] = text
    password = _plain_text(data.get("password"), PASSWORD_MAX, trim=False)
    if password is None or not values:
        return None
    transport = data.get("transport", Transport.COOKIE.value)
    if not isinstance(transport, str) or transport not in _TRANSPORTS:
        return None
    values["password"], values["transport"] = password, transport
    values["identifier"] = values.get("email") or values["username"]
    return values


class CredentialsInput(serializers.Serializer):
    email = serializers.CharField(required=False, max_length=254)
    username = serializers.CharField(required=False, max_length=150)
    password = serializers.CharField(max_length=PASSWORD_MAX, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        identifier = attrs.get("email") or attrs.get("username")
        if not identifier:
            raise serializers.ValidationError(
                "Give an e-mail address or a username.", code="required"
            )
        attrs["identifier"] = identifier
        return attrs


class MfaRequiredOutput(serializers.Serializer):
    mfa_required = serializers.BooleanField(help_text="always true")
    mfa_token = serializers.CharField(help_text="opaque; give it to /api/auth/login/mfa/")
    methods = serializers.ListField(child=serializers.ChoiceField(["totp", "backup_code"]))


def mfa_required_response(challenge: MfaChallengeStarted) -> Response:
    return Response(
        {"mfa_required": True, "mfa_token": challenge.mfa_token, "methods": challenge.methods}
    )


def login_response(request: Request, issued: IssuedTokens) -> Response:
    """Tokens by the session's transport, plus the user: what every completed login answers."""
    response = token_response(issued, extra={"user": user_data(issued.session.user)})
    if issued.session.transport != Transport.BODY:
        # a fresh CSRF token for the new browser session, readable by an app on another origin
        rotate_token(request._request)
        csrf_token_expose(request._request, response)
    return response


class CsrfApi(PublicAuthAPIView):
    @extend_schema(
        responses={204: None},
        parameters=[csrf_token_header(204)],
        summary="Set the CSRF cookie for browser clients; the token is also in X-CSRFToken",
    )
    def get(self, request: Request) -> Response:
        response = Response(status=status.HTTP_204_NO_CONTENT)
        csrf_token_expose(request._request, response)
        return response


class LoginLimits(APIView):
    """The limits of a password sign-in (anonymous, per IP, per account) and the account's and
    the IP's lock states, in one round trip to the rate-limit cache
    (``FirstRefusalThrottling``); the flow reads the locks from ``limits_read_ahead``."""

    throttle_classes = [AnonThrottle, LoginIPThrottle, LoginAccountThrottle]

    def limit_reads(self, request: Request) -> list[str]:
        identifier = login_identifier(request)
        if identifier is None:
            return []  # the input is refused before any lock matters
        account_key = login_account_key(login_account(request, identifier), identifier)
        return login_lockout_keys(account_key=account_key, ip=client_ip(request))


class LoginApi(LoginLimits, PublicAuthAPIView):
    class LoginInput(CredentialsInput):
        transport = serializers.ChoiceField(choices=Transport.choices, default=Transport.COOKIE)
        tenant = serializers.SlugField(
            required=False,
            max_length=63,
            help_text="The tenant to act in (slug); else X-Tenant / the host, else the "
            "user's only tenant.",
        )

    class LoginOutput(TokenResponse):
        user = UserSerializer()

    @extend_schema(
        request=LoginInput,
        responses={
            200: PolymorphicProxySerializer(
                component_name="LoginResult",
                serializers=[LoginOutput, MfaRequiredOutput],
                resource_type_field_name=None,
            ),
            400: ERROR,
            401: OpenApiResponse(ERROR, description="invalid_credentials"),
            403: OpenApiResponse(ERROR, description="email_not_verified, not_a_member"),
            429: OpenApiResponse(ERROR, description="throttled"),
        },
        parameters=[csrf_token_header(200, " (cookie and hybrid transports: a new token)")],
        summary="Sign in with a password; tokens travel as `transport` says",
    )
    def post(self, request: Request) -> Response:
        values = login_input_of_body(request)
        if values is None:
            data = self.LoginInput(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
        named = tenant_named(request._request)
        result = login_with_password(
            user=login_account(request, values["identifier"]),
            identifier=values["identifier"],
            password=values["password"],
            transport=values["transport"],
            client=client_info(request),
            tenant_slug=values.get("tenant"),
            tenant_requested=named.requested,
            tenant_asked=named.asked,
            tenant_domain=named.domain,
            lock_read_ahead=limits_read_ahead(request),
        )
        if isinstance(result, MfaChallengeStarted):
            return mfa_required_response(result)
        return login_response(request, result)


class LoginMfaApi(PublicAuthAPIView):
    """The second step of a login with MFA on. Wrong codes are limited per user
    (``IAM_THROTTLE_MFA_CODE``) and per ``mfa_token`` (``IAM_MFA_TOKEN_MAX_ATTEMPTS``)."""

    class LoginMfaInput(serializers.Serializer):
        mfa_token = serializers.CharField(
            max_length=256,
            required=False,
            help_text="else the `mfa_pending` cookie of a social sign-in (CSRF required)",
        )
        code = serializers.CharField(max_length=64, help_text="TOTP code or backup code")

    @extend_schema(
        request=LoginMfaInput,
        responses={
            200: LoginApi.LoginOutput,
            400: OpenApiResponse(ERROR, description="invalid_code"),
            401: OpenApiResponse(ERROR, description="mfa_token_invalid"),
            403: OpenApiResponse(ERROR, description="not_a_member"),
            429: OpenApiResponse(ERROR, description="throttled"),
        },
        parameters=[csrf_token_header(200, " (cookie and hybrid transports: a new token)")],
        summary="Complete a login with the second factor; answers like a password login",
    )
    def post(self, request: Request) -> Response:
        data = self.LoginMfaInput(data=request.data)
        data.is_valid(raise_exception=True)
        mfa_token = data.validated_data.get("mfa_token")
        if mfa_token is None:
            mfa_token = request.COOKIES.get(MFA_PENDING_COOKIE)
            if not mfa_token:
                raise serializers.ValidationError(
                    {"mfa_token": [ErrorDetail("This field is required.", code="required")]}
                )
            enforce_csrf(request._request)  # a cookie-borne credential
            request._request.__dict__["_iam_mfa_cookie"] = True
        issued = login_with_second_factor(
            mfa_token=mfa_token,
            code=data.validated_data["code"],
            client=client_info(request),
        )
        return login_response(request, issued)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request._request.__dict__.get("_iam_mfa_cookie") and (
            response.status_code == 200
            or getattr(response, "data", {}).get("code") == MfaTokenInvalid.code
        ):
            response.delete_cookie(
                MFA_PENDING_COOKIE,
                path="/api/auth/",
                domain=iam_settings.cookie_domain,
                samesite="Strict",
            )
        return response


class RefreshApi(PublicAuthAPIView):
    # a refresh carries a credential: limited per session, not by the anonymous per-IP limit
    throttle_classes = [RefreshSessionThrottle]

    class RefreshInput(serializers.Serializer):
        refresh = serializers.CharField(required=False, max_length=REFRESH_MAX)

    @extend_schema(
        request=RefreshInput,
        responses={200: TokenResponse, 401: ERROR, 403: ERROR, 503: ERROR},
        summary="Rotate the refresh token (cookie or body) and get a new access token",
    )
    def post(self, request: Request) -> Response:
        raw = refresh_of_body(request, self.RefreshInput)
        if raw is None:
            raw = refresh_cookie(request)
            if raw is None:
                raise TokenInvalid("No refresh token was presented.")
            enforce_csrf(request._request)
        issued = session_rotate(
            raw_refresh=raw, client=client_info(request), token=refresh_token_verified(request, raw)
        )
        return token_response(issued)


class VerifyApi(PublicAuthAPIView):
    class VerifyInput(serializers.Serializer):
        token = serializers.CharField(max_length=8192)

    @extend_schema(
        request=VerifyInput,
        responses={200: inline_serializer("Empty", {}), 401: ERROR},
        summary="Check an access token: valid signature and claims, live session",
    )
    def post(self, request: Request) -> Response:
        data = self.VerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        token = access_token_validate(data.validated_data["token"])
        session_user_for_access(token=token)
        return Response({})


class LogoutApi(PublicAuthAPIView):
    class LogoutInput(serializers.Serializer):
        refresh = serializers.CharField(required=False, max_length=8192)

    @staticmethod
    def _session_of(request: Request, body_refresh: str | None) -> dict[str, str] | None:
        """The session to end, from the body refresh token, the refresh cookie, or the access
        token (bearer header or cookie). A request that carries an IAM cookie must pass CSRF,
        whatever else it carries: cookies are what a cross-site request would ride on."""
        cookie = refresh_cookie(request)
        try:
            raw_access, access_from_cookie = raw_access_token(request)
        except exceptions.AuthenticationFailed:  # a malformed header identifies nothing
            raw_access, access_from_cookie = None, False
        if cookie or access_from_cookie:
            enforce_csrf(request._request)
        raw_refresh = body_refresh if body_refresh is not None else cookie
        if raw_refresh:
            try:
                token = RefreshToken(raw_refresh)
            except TokenError:
                return None  # an unusable token revokes nothing
            return {"sid": str(token["sid"]), "sub": str(token["sub"]), "jti": str(token["jti"])}
        if raw_access:
            try:
                access = access_token_validate(raw_access)
            except IAMError:
                return None
            return {"sid": str(access["sid"]), "sub": str(access["sub"])}
        return None

    @extend_schema(
        request=LogoutInput,
        responses={204: None, 403: ERROR, 503: ERROR},
        summary="Revoke the current session and clear the cookies (idempotent)",
    )
    def post(self, request: Request) -> Response:
        data = self.LogoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        found = self._session_of(request, data.validated_data.get("refresh"))
        if found is not None:
            session_logout(
                session_id=found["sid"],
                user_id=found["sub"],
                refresh_jti=found.get("jti"),
                client=client_info(request),
            )
        response = Response(status=status.HTTP_204_NO_CONTENT)
        clear_token_cookies(response)
        return response


# --- Compatibility endpoints: the names of stock SimpleJWT and of the plan this service started
# from, with their request and response shapes, over the same sessions, rotation, reuse detection,
# limits and audit as the endpoints they stand for. Each is deprecated in the schema and names its
# modern equivalent (docs/api.md, "Compatibility endpoints"; docs/migrating.md).


def compatibility(*, modern: str, note: str = "") -> Callable[[type[APIView]], type[APIView]]:
    """Mark a view's ``post`` deprecated in the schema, naming the endpoint that replaces it."""
    description = f"Compatibility endpoint, deprecated: use {modern}. {note}".strip()
    return extend_schema_view(post=extend_schema(deprecated=True, description=description))


@compatibility(
    modern='`POST /api/auth/login/` with `"transport": "body"`',
    note="For a user with MFA on this answers like /api/auth/login/ (`mfa_required`); "
    "/api/auth/login/mfa/ then answers with the login body "
    "(`access`, `refresh`, `token_type`, `expires_in`, `user`).",
)
class CompatTokenObtainApi(LoginLimits, PublicAuthAPIView):
    class TokenPair(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField()

    @extend_schema(
        request=CredentialsInput,
        responses={
            200: PolymorphicProxySerializer(
                component_name="TokenPairOrMfa",
                serializers=[TokenPair, MfaRequiredOutput],
                resource_type_field_name=None,
            ),
            401: ERROR,
            403: ERROR,
            429: ERROR,
        },
        summary="SimpleJWT-compatible: obtain an access/refresh pair",
    )
    def post(self, request: Request) -> Response:
        data = CredentialsInput(data=request.data)
        data.is_valid(raise_exception=True)
        named = tenant_named(request._request)
        result = login_with_password(
            user=login_account(request, data.validated_data["identifier"]),
            identifier=data.validated_data["identifier"],
            password=data.validated_data["password"],
            transport=Transport.BODY,
            client=client_info(request),
            tenant_requested=named.requested,
            tenant_asked=named.asked,
            tenant_domain=named.domain,
            lock_read_ahead=limits_read_ahead(request),
        )
        if isinstance(result, MfaChallengeStarted):
            return mfa_required_response(result)
        return Response({"access": result.access, "refresh": result.refresh})


@compatibility(
    modern='`POST /api/auth/login/` with `"transport": "body"`',
    note="The plan's name for `POST /api/token/`: the same request and answer.",
)
class CompatTokenObtainAliasApi(CompatTokenObtainApi):
    """``/api-token-auth/``: the obtain endpoint kept for old clients (``/api/token/``)."""


@compatibility(modern="`POST /api/auth/refresh/`")
class CompatTokenRefreshApi(PublicAuthAPIView):
    throttle_classes = [RefreshSessionThrottle]

    class CompatRefreshInput(serializers.Serializer):
        refresh = serializers.CharField(max_length=REFRESH_MAX)

    class CompatRefreshOutput(serializers.Serializer):
        access = serializers.CharField()
        refresh = serializers.CharField(required=False)

    @extend_schema(
        request=CompatRefreshInput,
        responses={200: CompatRefreshOutput, 401: ERROR},
        summary="SimpleJWT-compatible: rotate a refresh token",
    )
    def post(self, request: Request) -> Response:
        raw = refresh_of_body(request, self.CompatRefreshInput)
        assert raw is not None  # required by the serializer
        issued = session_rotate(
            raw_refresh=raw,
            client=client_info(request),
            token=refresh_token_verified(request, raw),
        )
        body = {"access": issued.access}
        if issued.refresh is not None:
            body["refresh"] = issued.refresh
        return Response(body)


@compatibility(modern="`POST /api/auth/refresh/`")
class CompatCookieRefreshApi(RefreshApi):
    """The plan's cookie refresh path: ``/api/auth/refresh/`` under another name, CSRF and all.
    Browsers send the refresh cookie here only when ``IAM_REFRESH_COOKIE_PATH`` covers this path
    (e.g. ``/api/``)."""


@compatibility(modern="`POST /api/auth/verify/`")
class CompatTokenVerifyApi(VerifyApi):
    @extend_schema(
        request=VerifyApi.VerifyInput,
        responses={200: inline_serializer("Empty", {}), 401: ERROR},
        summary="SimpleJWT-compatible: verify an access token",
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


def _logout_by_refresh(
    request: Request, raw: str, *, user_id: str | None = None
) -> tuple[LogoutOutcome, str | None]:
    """End the session of a refresh token with a valid signature, as a logout with it would
    (a rotated-away token ends it as reuse); only a session of ``user_id`` when given.
    ``(outcome, session id)``: ``NOT_FOUND`` for anything that is not such a token."""
    try:
        token = RefreshToken(raw)
    except TokenError:
        return LogoutOutcome.NOT_FOUND, None
    sid, sub, jti = (token.get(name) for name in ("sid", "sub", "jti"))
    if not all(isinstance(value, str) and value for value in (sid, sub, jti)):
        return LogoutOutcome.NOT_FOUND, None
    if user_id is not None and sub != user_id:
        return LogoutOutcome.NOT_FOUND, None
    outcome = session_logout(
        session_id=sid, user_id=sub, refresh_jti=jti, client=client_info(request)
    )
    return outcome, sid


class RefreshTokenInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=8192)


@compatibility(
    modern='`POST /api/auth/logout/` with `{"refresh"}`',
    note="Stock SimpleJWT's TokenBlacklistView: `200 {}`, `401 token_not_valid` for a token "
    "that is invalid, expired or already ended.",
)
class CompatTokenBlacklistApi(PublicAuthAPIView):
    """SimpleJWT's ``TokenBlacklistView``: the refresh token's session ends (the token is its own
    credential, like a logout with it). A rotated-away token ends it too, recorded as reuse."""

    @extend_schema(
        request=RefreshTokenInput,
        responses={
            200: inline_serializer("Empty", {}),
            400: ERROR,
            401: OpenApiResponse(ERROR, description="token_not_valid"),
            503: ERROR,
        },
        summary="SimpleJWT-compatible: blacklist a refresh token (its session ends)",
    )
    def post(self, request: Request) -> Response:
        data = RefreshTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome, _ = _logout_by_refresh(request, data.validated_data["refresh"])
        if outcome is LogoutOutcome.NOT_FOUND:
            raise TokenInvalid("Token is invalid or expired")
        if outcome is LogoutOutcome.ALREADY_ENDED:
            raise TokenInvalid("Token is blacklisted")
        return Response({})


@compatibility(
    modern="`POST /api/auth/logout/` (this session) or `DELETE /api/auth/sessions/{id}/`",
    note="`404 not_found` for anything that is not a refresh token of one of your sessions.",
)
class CompatTokenRevokeApi(NoStoreAPIView):
    """End the session of a refresh token of the signed-in user. A token that is garbage,
    expired, forged or someone else's is ``404`` alike: the answer says nothing about other
    users' sessions. One of the user's own sessions that already ended is ``204`` again
    (idempotent; a retry after ``503`` tells the other processes again)."""

    @extend_schema(
        request=RefreshTokenInput,
        responses={
            204: None,
            400: ERROR,
            401: OpenApiResponse(ERROR, description="not_authenticated, token_not_valid"),
            403: OpenApiResponse(ERROR, description="csrf_failed"),
            404: OpenApiResponse(ERROR, description="not_found: no session of yours"),
            503: ERROR,
        },
        summary="Plan-compatible: end the session of one of my refresh tokens",
    )
    def post(self, request: Request) -> Response:
        data = RefreshTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome, sid = _logout_by_refresh(
            request, data.validated_data["refresh"], user_id=str(request.user.pk)
        )
        if outcome is LogoutOutcome.NOT_FOUND:
            raise exceptions.NotFound("No session of yours has this refresh token.")
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if sid == str(request.auth["sid"]):
            clear_token_cookies(response)
        return response


@compatibility(modern="`POST /api/auth/logout-all/`")
class CompatTokenRevokeAllApi(LogoutAllApi):
    """The plan's ``/api/token/revoke-all/``: ``/api/auth/logout-all/`` under another name (every
    session of the user ends; ``{"keep_current": true}`` keeps this one)."""
