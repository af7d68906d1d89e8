"""Device sessions of the signed-in user: list them, end one, end all (or all but this one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from iam.core.apis import ERROR, NoStoreAPIView
from iam.core.devices import DeviceSerializer
from iam.core.http import client_info
from iam.sessions.models import RevokeReason, Transport
from iam.sessions.selectors import (
    SESSIONS_LIST_MAX,
    session_live_get_for_user,
    sessions_live_for_user,
)
from iam.sessions.services import TokenUser, session_revoke_by_user, sessions_revoke_for_user
from iam.sessions.tenants import session_switch_tenant
from iam.sessions.transport import TokenResponse, clear_token_cookies, token_response

NOT_AUTHENTICATED = OpenApiResponse(ERROR, description="not_authenticated, token_not_valid")
CSRF_FAILED = OpenApiResponse(ERROR, description="csrf_failed (cookie-authenticated requests)")
NOT_PROPAGATED = OpenApiResponse(ERROR, description="revocation_not_propagated; retry")


def _user(request: Request) -> TokenUser:
    """The signed-in user (every view here requires authentication)."""
    return cast(TokenUser, request.user)


def _claims(request: Request) -> Mapping[str, Any]:
    """The claims of the access token the request was authenticated with."""
    return cast(Mapping[str, Any], request.auth)


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true``/``false`` only: no guessing from ``"yes"``, ``"0"`` or ``"off"``."""

    def to_internal_value(self, data: Any) -> bool:
        if data is True or data is False:
            return data
        self.fail("invalid", input=data)
        raise AssertionError("unreachable")  # fail() raises


class SessionListApi(NoStoreAPIView):
    """The signed-in user's live sessions (not revoked, not expired), most recently used first;
    ``current`` marks the session of the access token that made this request."""

    class SessionOutput(serializers.Serializer):
        id = serializers.UUIDField()
        created_at = serializers.DateTimeField()
        last_used_at = serializers.DateTimeField()
        ip = serializers.IPAddressField(allow_null=True)
        user_agent = serializers.CharField(help_text="as the client sent it (max. 512 chars)")
        device = DeviceSerializer(source="user_agent")
        transport = serializers.ChoiceField(choices=Transport.choices)
        amr = serializers.ListField(child=serializers.CharField())
        current = serializers.SerializerMethodField(
            help_text="the session of the access token used for this request"
        )

        def get_current(self, session: Any) -> bool:
            return str(session.pk) == self.context["current_sid"]

    @extend_schema(
        responses={200: SessionOutput(many=True), 401: NOT_AUTHENTICATED},
        summary=f"My live sessions, most recently used first (at most {SESSIONS_LIST_MAX})",
    )
    def get(self, request: Request) -> Response:
        sessions = sessions_live_for_user(user_id=_user(request).pk)[:SESSIONS_LIST_MAX]
        context = {"current_sid": str(_claims(request)["sid"])}
        return Response(self.SessionOutput(sessions, many=True, context=context).data)


class SessionRevokeApi(NoStoreAPIView):
    """End one of the signed-in user's live sessions: its refresh and access tokens stop working
    at once. Any id that is not a live session of this user is 404, whoever it belongs to."""

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("session_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={
            204: None,
            401: NOT_AUTHENTICATED,
            403: CSRF_FAILED,
            404: OpenApiResponse(ERROR, description="not_found: no live session of yours"),
            503: NOT_PROPAGATED,
        },
        summary="End one of my sessions (clears the cookies when it is this one)",
    )
    def delete(self, request: Request, session_id: str) -> Response:
        session = session_live_get_for_user(user_id=_user(request).pk, session_id=session_id)
        if session is None:
            raise exceptions.NotFound()
        session_revoke_by_user(session=session, client=client_info(request))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if str(session.pk) == str(_claims(request)["sid"]):
            clear_token_cookies(response)
        return response


class LogoutAllApi(NoStoreAPIView):
    """End every live session of the signed-in user, or every one but this request's
    (``keep_current``). Their refresh and access tokens stop working at once."""

    class LogoutAllInput(serializers.Serializer):
        keep_current = StrictBooleanField(
            default=False, help_text="keep the session of this request signed in"
        )

    class LogoutAllOutput(serializers.Serializer):
        revoked = serializers.IntegerField(help_text="how many sessions were revoked")

    @extend_schema(
        request=LogoutAllInput,
        responses={
            200: LogoutAllOutput,
            400: OpenApiResponse(ERROR, description="invalid, parse_error"),
            401: NOT_AUTHENTICATED,
            403: CSRF_FAILED,
            415: OpenApiResponse(ERROR, description="unsupported_media_type"),
            503: NOT_PROPAGATED,
        },
        summary="End all my sessions, or all but this one",
    )
    def post(self, request: Request) -> Response:
        data = self.LogoutAllInput(data=request.data)
        data.is_valid(raise_exception=True)
        keep_current = data.validated_data["keep_current"]
        revoked = sessions_revoke_for_user(
            user_id=_user(request).pk,
            reason=RevokeReason.USER,
            client=client_info(request),
            keep_session_id=_claims(request)["sid"] if keep_current else None,
        )
        response = Response(self.LogoutAllOutput({"revoked": revoked}).data)
        if not keep_current:
            clear_token_cookies(response)
        return response


class TenantSwitchApi(NoStoreAPIView):
    """New tokens for the same session, scoped to another tenant of the user."""

    class TenantSwitchInput(serializers.Serializer):
        tenant = serializers.SlugField(max_length=63)

    @extend_schema(
        request=TenantSwitchInput,
        responses={
            200: TokenResponse,
            401: ERROR,
            403: OpenApiResponse(
                ERROR,
                description="not_a_member, missing_permission, role_above_own, tenant_mismatch",
            ),
        },
        summary="Switch the session's tenant; answers with new tokens (by the session's transport)",
    )
    def post(self, request: Request) -> Response:
        data = self.TenantSwitchInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = session_switch_tenant(
            user=_user(request),
            session_id=_claims(request)["sid"],
            slug=data.validated_data["tenant"],
            client=client_info(request),
        )
        return token_response(issued)
