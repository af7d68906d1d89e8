"""Social sign-in endpoints. Thin: parse input, call one flow or service, render. The browser
endpoints (begin, callback) always answer with a redirect to the front end, never JSON: errors
travel as a stable ``social_error`` code in the redirect."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse, HttpResponseRedirect
from django.middleware.csrf import rotate_token
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from iam.accounts.serializers import UserSerializer
from iam.accounts.throttles import LoginIPThrottle
from iam.authn.apis import login_response, mfa_required_response
from iam.authn.csrf import enforce_csrf
from iam.core.apis import ERROR, PASSWORD_MAX, NoStoreAPIView, PublicAuthAPIView
from iam.core.conf import iam_settings
from iam.core.exceptions import (
    IAMError,
    InvalidPassword,
    NotFound,
    NotTenantMember,
    PasswordRequired,
    SocialCodeInvalid,
    SocialLinkInvalid,
    SocialStateInvalid,
)
from iam.core.http import client_info
from iam.core.throttles import AnonThrottle, PasswordCheckThrottle, UserThrottle
from iam.mfa.challenge import MfaChallengeStarted
from iam.sessions.models import DeviceSession, Transport
from iam.sessions.services import IssuedTokens
from iam.sessions.transport import MFA_PENDING_COOKIE, TokenResponse, set_token_cookies
from iam.social import services
from iam.social.flows import (
    LinkRequired,
    SignInContext,
    SocialFailure,
    callback_context,
    provider_required,
    social_begin,
    social_complete,
    social_connect,
    social_id_token_identity,
    social_sign_in,
)
from iam.social.models import SocialIdentity
from iam.social.providers import provider_get, providers
from iam.social.redirects import (
    connections_page,
    default_next,
    login_page,
    safe_next,
    with_params,
)
from iam.social.selectors import identities_of, link_get, sign_in_methods_other_than
from iam.tenancy.middleware import requested_tenant, tenant_asked

log = logging.getLogger("iam.social")

LINK_COOKIE = "social_link"
LINK_COOKIE_PATH = "/api/auth/social/"
SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]{1,63}$")


def _cookie(response: HttpResponse, name: str, value: str, *, max_age: int, path: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        domain=iam_settings.cookie_domain,
        secure=iam_settings.cookie_secure,
        httponly=True,
        samesite="Strict",
    )


def _cookie_clear(response: HttpResponse, name: str, *, path: str) -> None:
    response.delete_cookie(name, path=path, domain=iam_settings.cookie_domain, samesite="Strict")


def _base(name: str) -> str:
    return f"{iam_settings.issuer.rstrip('/')}/api/auth/social/{name}"


# --- providers --------------------------------------------------------------------------------


class ProviderOutput(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()
    begin_url = serializers.CharField()
    token_url = serializers.CharField(allow_null=True, help_text="null: no ID tokens (GitHub)")


class ProvidersApi(PublicAuthAPIView):
    @extend_schema(
        responses={200: ProviderOutput(many=True)},
        summary="The enabled sign-in providers, for login buttons",
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "name": p.name,
                    "display_name": p.display_name,
                    "begin_url": f"{_base(p.name)}/begin/",
                    "token_url": f"{_base(p.name)}/token/" if p.has_id_tokens else None,
                }
                for p in providers()
            ]
        )


# --- the browser flow ----------------------------------------------------------------------


class _RedirectingView(PublicAuthAPIView):
    """A browser navigation: every answer, error or not, is a redirect to the front end."""

    def _error_redirect(
        self, code: str, *, provider: str | None, context: SignInContext | None = None
    ) -> HttpResponse:
        if context is not None and context.intent == "connect":
            target = with_params(context.next or connections_page(), social_error=code)
        else:
            target = login_page(
                social_error=code, provider=provider, next=context.next if context else None
            )
        return HttpResponseRedirect(target)

    def handle_exception(self, exc: Exception) -> HttpResponse:
        # limits (throttles) and anything raised before the view's own handling
        code = exc.code if isinstance(exc, IAMError) else getattr(exc, "default_code", "")
        if getattr(exc, "status_code", None) == 429:
            code = "throttled"
        if not code or not isinstance(code, str):
            code = "server_error"
        return self._error_redirect(code, provider=self.kwargs.get("provider"))


_BEGIN_PARAMS = [
    OpenApiParameter("next", str, description="where to go after sign-in (allow-listed)"),
    OpenApiParameter("transport", str, enum=["cookie", "hybrid"]),
    OpenApiParameter("tenant", str, description="tenant slug"),
]


class SocialBeginApi(_RedirectingView):
    throttle_classes = [AnonThrottle]

    @extend_schema(
        parameters=_BEGIN_PARAMS,
        responses={302: OpenApiResponse(description="to the provider, or to the sign-in page")},
        summary="Start a social sign-in (browser navigation)",
    )
    def get(self, request: Request, provider: str) -> HttpResponse:
        tenant = request.query_params.get("tenant") or None
        transport = request.query_params.get("transport")
        requested = requested_tenant(request._request)
        context = SignInContext(
            intent="login",
            next=safe_next(request.query_params.get("next")),
            transport=transport if transport in (Transport.COOKIE, Transport.HYBRID) else "cookie",
            tenant_slug=tenant,
            tenant_id=str(requested.id) if requested else None,
            tenant_slug_requested=requested.slug if requested else None,
            tenant_asked=tenant_asked(request._request),
        )
        try:
            if tenant is not None and not SLUG_RE.match(tenant):
                raise NotTenantMember()
            config = provider_required(provider)
            url = social_begin(request=request._request, provider=config, context=context)
        except IAMError as error:
            return self._error_redirect(error.code, provider=provider, context=context)
        return HttpResponseRedirect(url)


class SocialCallbackApi(_RedirectingView):
    throttle_classes = [LoginIPThrottle]

    @extend_schema(
        responses={302: OpenApiResponse(description="to `next` or to a front-end page")},
        summary="The provider's redirect back (browser navigation)",
    )
    def get(self, request: Request, provider: str) -> HttpResponse:
        client = client_info(request)
        context = callback_context(request._request)
        try:
            config = provider_required(provider)
            if "code" not in request.query_params and "error" not in request.query_params:
                raise SocialFailure(SocialCodeInvalid(), "missing_code")
            if not config.authorization_response_issuer_ok(request.query_params.get("iss")):
                raise SocialFailure(SocialStateInvalid(), "iss_mismatch")
            identity = social_complete(request=request._request, provider=config)
            if context is None:  # the state was valid, its context is gone (too many at once)
                raise SocialFailure(SocialStateInvalid(), "context_missing")
            if context.intent == "connect":
                social_connect(identity=identity, context=context, client=client)
                target = context.next or connections_page()
                return HttpResponseRedirect(with_params(target, social_connected=provider))
            result = social_sign_in(
                identity=identity,
                provider=config,
                transport=Transport(context.transport),
                client=client,
                tenant_slug=context.tenant_slug,
                tenant_requested=context.tenant_requested(),
                tenant_asked=context.tenant_asked,
            )
        except SocialFailure as failure:
            services.social_refusal_record(
                provider=provider,
                reason=failure.error.code,
                detail=failure.reason,
                client=client,
                user_id=context.user_id if context else None,
            )
            return self._error_redirect(failure.error.code, provider=provider, context=context)
        except IAMError as error:
            return self._error_redirect(error.code, provider=provider, context=context)
        except Exception:  # a browser must land on a page, never on a stack trace or a 500
            log.exception("social sign-in callback failed")
            return self._error_redirect("server_error", provider=provider, context=context)
        return self._signed_in(request, result, provider=provider, context=context)

    def _signed_in(
        self,
        request: Request,
        result: IssuedTokens | MfaChallengeStarted | LinkRequired,
        *,
        provider: str,
        context: SignInContext,
    ) -> HttpResponse:
        if isinstance(result, MfaChallengeStarted):
            response = HttpResponseRedirect(
                login_page(social_step="mfa", provider=provider, next=context.next)
            )
            _cookie(
                response,
                MFA_PENDING_COOKIE,
                result.mfa_token,
                max_age=int(iam_settings.mfa_token_ttl.total_seconds()),
                path="/api/auth/",
            )
            return response
        if isinstance(result, LinkRequired):
            response = HttpResponseRedirect(
                login_page(social_step="link", provider=provider, next=context.next)
            )
            _cookie(
                response,
                LINK_COOKIE,
                result.token,
                max_age=int(iam_settings.social_link_ttl.total_seconds()),
                path=LINK_COOKIE_PATH,
            )
            return response
        response = HttpResponseRedirect(context.next or default_next())
        set_token_cookies(response, result)
        rotate_token(request._request)  # a fresh CSRF token for the new browser session
        return response


# --- apps: the provider's ID token ----------------------------------------------------------


class LinkRequiredOutput(serializers.Serializer):
    link_required = serializers.BooleanField(help_text="always true")
    link_token = serializers.CharField(help_text="opaque; give it to POST /api/auth/social/link/")
    provider = serializers.CharField()
    email = serializers.CharField()


class SocialTokenApi(PublicAuthAPIView):
    throttle_classes = [AnonThrottle, LoginIPThrottle]

    class TokenInput(serializers.Serializer):
        id_token = serializers.CharField(max_length=16384)
        nonce = serializers.CharField(required=False, max_length=512)
        transport = serializers.ChoiceField(choices=Transport.choices, default=Transport.BODY)
        tenant = serializers.SlugField(required=False, max_length=63)

    class LoginOutput(TokenResponse):
        user = UserSerializer()

    @extend_schema(
        request=TokenInput,
        responses={
            200: OpenApiResponse(
                description="tokens (like a login), `mfa_required`, or `link_required`"
            ),
            400: ERROR,
            401: OpenApiResponse(ERROR, description="id_token_invalid"),
            403: OpenApiResponse(
                ERROR,
                description="social_email_missing, social_email_not_verified, "
                "social_domain_not_allowed, social_account_disabled, not_a_member",
            ),
            404: OpenApiResponse(ERROR, description="provider_not_found"),
            429: OpenApiResponse(ERROR, description="throttled"),
            502: OpenApiResponse(ERROR, description="provider_error"),
            503: OpenApiResponse(ERROR, description="provider_unavailable"),
        },
        summary="Sign in with a provider's ID token (apps); answers like a login",
    )
    def post(self, request: Request, provider: str) -> Response:
        data = self.TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        config = provider_required(provider, id_tokens=True)
        client = client_info(request)
        try:
            identity = social_id_token_identity(
                request=request._request,
                provider=config,
                id_token=data.validated_data["id_token"],
                nonce=data.validated_data.get("nonce"),
            )
        except SocialFailure as failure:
            services.social_refusal_record(
                provider=provider, reason=failure.error.code, detail=failure.reason, client=client
            )
            raise failure.error from None
        result = social_sign_in(
            identity=identity,
            provider=config,
            transport=data.validated_data["transport"],
            client=client,
            tenant_slug=data.validated_data.get("tenant"),
            tenant_requested=requested_tenant(request._request),
            tenant_asked=tenant_asked(request._request),
        )
        if isinstance(result, MfaChallengeStarted):
            return mfa_required_response(result)
        if isinstance(result, LinkRequired):
            return Response(
                {
                    "link_required": True,
                    "link_token": result.token,
                    "provider": result.provider,
                    "email": result.email,
                }
            )
        return login_response(request, result)


# --- pending links ---------------------------------------------------------------------------


class IdentityOutput(serializers.Serializer):
    id = serializers.UUIDField()
    provider = serializers.CharField()
    display_name = serializers.CharField()
    email = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    can_disconnect = serializers.BooleanField()


def _identity_data(row: SocialIdentity, *, can_disconnect: bool) -> dict[str, Any]:
    config = provider_get(row.provider)
    return {
        "id": str(row.pk),
        "provider": row.provider,
        "display_name": config.display_name if config else row.provider,
        "email": row.email,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "can_disconnect": can_disconnect,
    }


def _link_token(request: Request) -> tuple[str | None, bool]:
    """The pending link's token: the body's ``link_token``, else the cookie (then True)."""
    data = request.data if isinstance(request.data, dict) else {}
    token = data.get("link_token")
    if isinstance(token, str) and token:
        return token[:256], False
    cookie = request.COOKIES.get(LINK_COOKIE)
    return (cookie, True) if cookie else (None, False)


class SocialLinkApi(NoStoreAPIView):
    class LinkInput(serializers.Serializer):
        link_token = serializers.CharField(required=False, max_length=256)

    class PendingOutput(serializers.Serializer):
        provider = serializers.CharField()
        display_name = serializers.CharField()
        email = serializers.CharField()
        expires_at = serializers.DateTimeField()

    # reading or cancelling a pending link needs no account; confirming needs a signed-in one
    permission_classes = [AllowAny]

    def get_authenticators(self) -> list:
        return super().get_authenticators() if self._confirming() else []

    def get_permissions(self) -> list:
        return [IsAuthenticated()] if self._confirming() else [AllowAny()]

    def get_throttles(self) -> list:
        return [UserThrottle()] if self._confirming() else [AnonThrottle()]

    def _confirming(self) -> bool:
        return getattr(self.request, "method", None) == "POST"

    @extend_schema(
        responses={
            200: PendingOutput,
            400: OpenApiResponse(ERROR, description="social_link_invalid"),
        },
        summary="The pending link of this browser (cookie `social_link`)",
    )
    def get(self, request: Request) -> Response:
        link = link_get(token=request.COOKIES.get(LINK_COOKIE))
        config = provider_get(link.provider) if link else None
        if link is None or config is None:
            raise SocialLinkInvalid()
        return Response(
            {
                "provider": link.provider,
                "display_name": config.display_name,
                "email": link.email,
                "expires_at": link.expires_at,
            }
        )

    @extend_schema(
        request=LinkInput,
        responses={
            200: IdentityOutput,
            400: OpenApiResponse(ERROR, description="social_link_invalid"),
            403: OpenApiResponse(
                ERROR, description="social_link_mismatch, reauthentication_required"
            ),
            409: OpenApiResponse(ERROR, description="social_identity_in_use"),
        },
        summary="Confirm the pending link: the identity is linked to the signed-in account",
    )
    def post(self, request: Request) -> Response:
        data = self.LinkInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, from_cookie = _link_token(request)
        sid = request.auth.get("sid") if request.auth is not None else None
        session = DeviceSession.objects.filter(pk=sid, user_id=request.user.pk).first()
        row = services.link_request_confirm(
            token=token,
            user=request.user,
            signed_in_at=session.created_at if session else None,
            amr=list(session.amr) if session else [],
            client=client_info(request),
            session_id=sid,
        )
        methods = sign_in_methods_other_than(
            user_id=request.user.pk,
            has_password=request.user.has_usable_password(),
            identity_id=row.pk,
        )
        response = Response(_identity_data(row, can_disconnect=methods > 0))
        if from_cookie:
            _cookie_clear(response, LINK_COOKIE, path=LINK_COOKIE_PATH)
        return response

    @extend_schema(
        request=LinkInput, responses={204: None}, summary="Cancel the pending link (idempotent)"
    )
    def delete(self, request: Request) -> Response:
        data = self.LinkInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, from_cookie = _link_token(request)
        if from_cookie:
            enforce_csrf(request._request)
        services.link_request_cancel(token=token)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        _cookie_clear(response, LINK_COOKIE, path=LINK_COOKIE_PATH)
        return response


# --- a signed-in user's identities -------------------------------------------------------------


def _signed_in_at(request: Request) -> datetime | None:
    auth_time = request.auth.get("auth_time") if request.auth is not None else None
    return datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int) else None


class IdentitiesApi(NoStoreAPIView):
    throttle_classes = [UserThrottle, PasswordCheckThrottle]

    class ConnectInput(serializers.Serializer):
        provider = serializers.CharField(max_length=64)
        next = serializers.CharField(required=False, max_length=2048)
        password = serializers.CharField(
            required=False,
            max_length=PASSWORD_MAX,
            trim_whitespace=False,
            help_text="needed when the session signed in more than IAM_MFA_REAUTH_AGE ago",
        )

    class ConnectOutput(serializers.Serializer):
        authorization_url = serializers.CharField(help_text="navigate the browser there")

    @extend_schema(responses={200: IdentityOutput(many=True)}, summary="Your linked identities")
    def get(self, request: Request) -> Response:
        rows = list(identities_of(user_id=request.user.pk))
        enabled = {p.name for p in providers()}
        ways = int(request.user.has_usable_password()) + sum(r.provider in enabled for r in rows)
        return Response(
            [
                _identity_data(r, can_disconnect=r.provider not in enabled or ways - 1 > 0)
                for r in rows
            ]
        )

    @extend_schema(
        request=ConnectInput,
        responses={
            200: ConnectOutput,
            400: OpenApiResponse(ERROR, description="password_required, invalid_password"),
            404: OpenApiResponse(ERROR, description="provider_not_found"),
        },
        summary="Connect another identity: where to send the browser",
    )
    def post(self, request: Request) -> Response:
        data = self.ConnectInput(data=request.data)
        data.is_valid(raise_exception=True)
        config = provider_required(data.validated_data["provider"])
        password = data.validated_data.get("password")
        signed_in_at = _signed_in_at(request)
        fresh = signed_in_at is not None and (
            datetime.now(UTC) - signed_in_at <= iam_settings.mfa_reauth_age
        )
        if not password and not fresh:
            raise PasswordRequired.on_field(
                "password", "You signed in a while ago: give your password to connect an account."
            )
        if password and not request.user.check_password(password):
            raise InvalidPassword.on_field("password")
        context = SignInContext(
            intent="connect",
            next=safe_next(data.validated_data.get("next")),
            user_id=str(request.user.pk),
            session_id=str(request.auth.get("sid")) if request.auth is not None else None,
        )
        url = social_begin(request=request._request, provider=config, context=context)
        return Response({"authorization_url": url})


class IdentityApi(NoStoreAPIView):
    @extend_schema(
        responses={
            204: None,
            404: OpenApiResponse(ERROR, description="not_found"),
            409: OpenApiResponse(ERROR, description="last_sign_in_method"),
        },
        summary="Disconnect one of your identities",
    )
    def delete(self, request: Request, identity_id: str) -> Response:
        try:
            uuid.UUID(identity_id)
        except ValueError:
            raise NotFound() from None
        services.identity_unlink(
            user=request.user,
            identity_id=identity_id,
            client=client_info(request),
            session_id=request.auth.get("sid") if request.auth is not None else None,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
