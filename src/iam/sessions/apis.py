"""Device sessions of the signed-in user: list them, end one, end all (or all but this one)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from iam.authn.apis import ERROR, client_info
from iam.authn.transport import clear_token_cookies
from iam.core.apis import NoStoreAPIView
from iam.sessions.models import RevokeReason, Transport
from iam.sessions.selectors import (
    SESSIONS_LIST_MAX,
    device_describe,
    session_live_get_for_user,
    sessions_live_for_user,
)
from iam.sessions.services import session_revoke_by_user, sessions_revoke_for_user

NOT_AUTHENTICATED = OpenApiResponse(ERROR, description="not_authenticated, token_not_valid")
CSRF_FAILED = OpenApiResponse(ERROR, description="csrf_failed (cookie-authenticated requests)")
NOT_PROPAGATED = OpenApiResponse(ERROR, description="revocation_not_propagated; retry")


class SessionDeviceSerializer(serializers.Serializer):
    """What the session's user agent is, for people."""

    browser = serializers.CharField(help_text='"Firefox 128"; "Other" when not recognised')
    os = serializers.CharField(help_text='"Ubuntu", "Windows 10", "iOS 17.5"; or "Other"')
    device = serializers.CharField(help_text='"iPhone", "Pixel 8"; "Other" for most computers')
    label = serializers.CharField(help_text='"Firefox 128 on Ubuntu"; "Unknown device"')

    def to_representation(self, instance: str) -> dict[str, Any]:
        return device_describe(instance)


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
        device = SessionDeviceSerializer(source="user_agent")
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
        sessions = sessions_live_for_user(user_id=request.user.pk)[:SESSIONS_LIST_MAX]
        context = {"current_sid": str(request.auth["sid"])}
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
        session = session_live_get_for_user(user_id=request.user.pk, session_id=session_id)
        if session is None:
            raise exceptions.NotFound()
        session_revoke_by_user(session=session, client=client_info(request))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if str(session.pk) == str(request.auth["sid"]):
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
            user_id=request.user.pk,
            reason=RevokeReason.USER,
            client=client_info(request),
            keep_session_id=request.auth["sid"] if keep_current else None,
        )
        response = Response(self.LogoutAllOutput({"revoked": revoked}).data)
        if not keep_current:
            clear_token_cookies(response)
        return response
