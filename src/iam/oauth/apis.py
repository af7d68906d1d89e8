"""OAuth 2.0 endpoints for service clients: form-encoded in, RFC-shaped JSON out.

Errors follow RFC 6749 §5.2 (``{"error", "error_description"}``), not the IAM's ``detail``/``code``
shape, because OAuth client libraries expect it; 401 ``invalid_client`` carries
``WWW-Authenticate: Basic`` when the client tried HTTP Basic.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from iam.core.http import client_info
from iam.core.throttles import LiveRateThrottle
from iam.oauth.models import ServiceClient
from iam.oauth.services import (
    OAuthError,
    client_authenticate,
    service_token_issue,
    token_introspect,
    token_revoke,
)

OAUTH_ERROR = inline_serializer(
    "OAuthError",
    {"error": serializers.CharField(), "error_description": serializers.CharField()},
)
MAX_FIELD = 16384


class OAuthIPThrottle(LiveRateThrottle):
    scope = "oauth_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _field(request: Request, name: str) -> str | None:
    """One form field: at most once, printable, bounded (RFC 6749 §3.1: no repeated params)."""
    values = request.data.getlist(name) if hasattr(request.data, "getlist") else []
    if not values:
        return None
    if len(values) > 1:
        raise OAuthError("invalid_request", f"The parameter {name} is repeated.")
    value = values[0]
    if len(value) > MAX_FIELD or not value.isprintable():
        raise OAuthError("invalid_request", f"The parameter {name} is malformed.")
    return value


class OAuthAPIView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser]
    throttle_classes = [OAuthIPThrottle]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, OAuthError):
            response = Response(
                {"error": exc.error, "error_description": exc.description}, status=exc.status
            )
            if exc.status == 401 and self._used_basic:
                response["WWW-Authenticate"] = 'Basic realm="oauth"'
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kw: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kw)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response

    _used_basic = False

    def authenticate_client(self, request: Request) -> ServiceClient:
        """HTTP Basic (RFC 6749 §2.3.1, form-urlencoded id and secret) or the form fields
        ``client_id``/``client_secret``; one method only."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        form_id, form_secret = _field(request, "client_id"), _field(request, "client_secret")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                raise OAuthError("invalid_client", "Use HTTP Basic client authentication.", 401)
            self._used_basic = True
            if form_secret is not None:
                raise OAuthError("invalid_request", "Use one client authentication method.")
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
                raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from exc
            raw_id, sep, raw_secret = decoded.partition(":")
            if not sep:
                raise OAuthError("invalid_client", "Malformed Basic credentials.", 401)
            client_id, secret = unquote(raw_id), unquote(raw_secret)
            if form_id is not None and form_id != client_id:
                raise OAuthError("invalid_request", "Two different client ids.")
        else:
            if form_id is None or form_secret is None:
                raise OAuthError("invalid_client", "Client authentication is required.", 401)
            client_id, secret = form_id, form_secret
        return client_authenticate(client_id=client_id, secret=secret, info=client_info(request))


TOKEN_FORM = inline_serializer(
    "ClientCredentialsRequest",
    {
        "grant_type": serializers.ChoiceField(choices=["client_credentials"]),
        "audience": serializers.CharField(required=False),
        "scope": serializers.CharField(required=False, help_text="space-separated"),
        "client_id": serializers.CharField(required=False, help_text="if not HTTP Basic"),
        "client_secret": serializers.CharField(required=False, help_text="if not HTTP Basic"),
    },
)


class TokenApi(OAuthAPIView):
    @extend_schema(
        request={"application/x-www-form-urlencoded": TOKEN_FORM},
        responses={
            200: inline_serializer(
                "ServiceTokenResponse",
                {
                    "access_token": serializers.CharField(),
                    "token_type": serializers.CharField(),
                    "expires_in": serializers.IntegerField(),
                    "scope": serializers.CharField(),
                },
            ),
            400: OpenApiResponse(
                OAUTH_ERROR,
                description="invalid_request, unsupported_grant_type, invalid_scope, "
                "invalid_target, unauthorized_client",
            ),
            401: OpenApiResponse(OAUTH_ERROR, description="invalid_client"),
        },
        summary="OAuth 2.0 client-credentials grant (RFC 6749 §4.4) for service clients",
        auth=[{"basicAuth": []}],
    )
    def post(self, request: Request) -> Response:
        grant = _field(request, "grant_type")
        if grant is None:
            raise OAuthError("invalid_request", "grant_type is required.")
        if grant != "client_credentials":
            raise OAuthError("unsupported_grant_type", "Only client_credentials is supported.")
        audience, resource = _field(request, "audience"), _field(request, "resource")
        if audience and resource and audience != resource:
            raise OAuthError("invalid_request", "audience and resource name different targets.")
        client = self.authenticate_client(request)
        issued = service_token_issue(
            client=client,
            audience=audience or resource,
            scope=_field(request, "scope"),
            info=client_info(request),
        )
        return Response(
            {
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            }
        )


TOKEN_PARAM_FORM = inline_serializer(
    "TokenParameter",
    {
        "token": serializers.CharField(),
        "token_type_hint": serializers.ChoiceField(
            choices=["access_token", "refresh_token"], required=False
        ),
    },
)


class IntrospectApi(OAuthAPIView):
    @extend_schema(
        request={"application/x-www-form-urlencoded": TOKEN_PARAM_FORM},
        responses={
            200: OpenApiResponse(description='{"active": true, ...claims} or {"active": false}'),
            401: OpenApiResponse(OAUTH_ERROR, description="invalid_client"),
            403: OpenApiResponse(OAUTH_ERROR, description="unauthorized_client"),
        },
        summary="Token introspection (RFC 7662) for service clients allowed to introspect",
        auth=[{"basicAuth": []}],
    )
    def post(self, request: Request) -> Response:
        client = self.authenticate_client(request)
        if not client.can_introspect:
            raise OAuthError("unauthorized_client", "This client may not introspect.", 403)
        token = _field(request, "token")
        if token is None:
            raise OAuthError("invalid_request", "token is required.")
        return Response(token_introspect(raw=token, hint=_field(request, "token_type_hint")))


class RevokeApi(OAuthAPIView):
    @extend_schema(
        request={"application/x-www-form-urlencoded": TOKEN_PARAM_FORM},
        responses={
            200: OpenApiResponse(description="always, also for unknown or invalid tokens"),
            401: OpenApiResponse(OAUTH_ERROR, description="invalid_client"),
            403: OpenApiResponse(OAUTH_ERROR, description="unauthorized_client"),
        },
        summary="Token revocation (RFC 7009): ends the session of a refresh or user access token",
        auth=[{"basicAuth": []}],
    )
    def post(self, request: Request) -> Response:
        client = self.authenticate_client(request)
        if not client.can_introspect:
            raise OAuthError("unauthorized_client", "This client may not revoke tokens.", 403)
        token = _field(request, "token")
        if token is None:
            raise OAuthError("invalid_request", "token is required.")
        token_revoke(raw=token, client=client, info=client_info(request))
        return Response({})
