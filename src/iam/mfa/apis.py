"""Two-factor endpoints of a signed-in user. Thin: parse input, call one service, render."""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from iam.core.apis import ERROR, NoStoreAPIView, password_field
from iam.core.http import client_info
from iam.core.throttles import PasswordCheckThrottle, UserThrottle
from iam.mfa import enrolment
from iam.mfa.selectors import mfa_status

CODE_MAX = 64


def _code() -> serializers.CharField:
    return serializers.CharField(max_length=CODE_MAX, help_text="TOTP code or backup code")


def _session_id(request: Request) -> str | None:
    return request.auth.get("sid") if request.auth is not None else None


def _signed_in_at(request: Request) -> datetime | None:
    auth_time = request.auth.get("auth_time") if request.auth is not None else None
    return datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int) else None


class BackupCodesOutput(serializers.Serializer):
    backup_codes = serializers.ListField(
        child=serializers.CharField(), help_text="shown once; each works once"
    )


class MfaStatusApi(NoStoreAPIView):
    class StatusOutput(serializers.Serializer):
        enabled = serializers.BooleanField()
        enabled_at = serializers.DateTimeField(allow_null=True)
        setup_pending = serializers.BooleanField()
        methods = serializers.ListField(child=serializers.CharField())
        backup_codes_remaining = serializers.IntegerField()

    @extend_schema(responses={200: StatusOutput}, summary="The user's two-factor status")
    def get(self, request: Request) -> Response:
        current = mfa_status(user_id=request.user.pk)
        return Response(self.StatusOutput(current).data)


class TotpSetupApi(NoStoreAPIView):
    throttle_classes = [UserThrottle, PasswordCheckThrottle]

    class SetupInput(serializers.Serializer):
        password = password_field(
            required=False,
            help_text="needed when the session signed in more than IAM_MFA_REAUTH_AGE ago",
        )

    class SetupOutput(serializers.Serializer):
        secret = serializers.CharField(help_text="base32, for manual entry")
        otpauth_uri = serializers.CharField()
        qr_svg = serializers.CharField(help_text="the otpauth URI as an SVG QR code")

    @extend_schema(
        request=SetupInput,
        responses={
            200: SetupOutput,
            400: OpenApiResponse(ERROR, description="password_required, invalid_password"),
            409: OpenApiResponse(ERROR, description="mfa_already_enabled"),
        },
        summary="Start an authenticator setup (replaces an unconfirmed one; enables nothing)",
    )
    def post(self, request: Request) -> Response:
        data = self.SetupInput(data=request.data)
        data.is_valid(raise_exception=True)
        setup = enrolment.totp_setup(
            user=request.user,
            client=client_info(request),
            signed_in_at=_signed_in_at(request),
            password=data.validated_data.get("password"),
        )
        return Response(
            {"secret": setup.secret, "otpauth_uri": setup.otpauth_uri, "qr_svg": setup.qr_svg}
        )


class TotpEnableApi(NoStoreAPIView):
    class EnableInput(serializers.Serializer):
        code = serializers.CharField(max_length=CODE_MAX, help_text="a code from the app")

    @extend_schema(
        request=EnableInput,
        responses={
            200: BackupCodesOutput,
            400: OpenApiResponse(ERROR, description="invalid_code"),
            409: OpenApiResponse(ERROR, description="mfa_setup_required, mfa_already_enabled"),
            429: OpenApiResponse(ERROR, description="throttled"),
        },
        summary="Confirm the authenticator: MFA is on; returns ten backup codes once",
    )
    def post(self, request: Request) -> Response:
        data = self.EnableInput(data=request.data)
        data.is_valid(raise_exception=True)
        codes = enrolment.totp_enable(
            user=request.user,
            code=data.validated_data["code"],
            client=client_info(request),
            session_id=_session_id(request),
        )
        return Response({"backup_codes": codes})


class TotpDisableApi(NoStoreAPIView):
    throttle_classes = [UserThrottle, PasswordCheckThrottle]

    class DisableInput(serializers.Serializer):
        password = password_field()
        code = _code()

    @extend_schema(
        request=DisableInput,
        responses={
            204: None,
            400: OpenApiResponse(ERROR, description="invalid_password, invalid_code"),
            409: OpenApiResponse(ERROR, description="mfa_not_enabled"),
            429: OpenApiResponse(ERROR, description="throttled"),
        },
        summary="Turn MFA off (password and a fresh second factor)",
    )
    def post(self, request: Request) -> Response:
        data = self.DisableInput(data=request.data)
        data.is_valid(raise_exception=True)
        enrolment.totp_disable(
            user=request.user,
            password=data.validated_data["password"],
            code=data.validated_data["code"],
            client=client_info(request),
            session_id=_session_id(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class BackupCodesApi(NoStoreAPIView):
    class RegenerateInput(serializers.Serializer):
        code = _code()

    @extend_schema(
        request=RegenerateInput,
        responses={
            200: BackupCodesOutput,
            400: OpenApiResponse(ERROR, description="invalid_code"),
            409: OpenApiResponse(ERROR, description="mfa_not_enabled"),
            429: OpenApiResponse(ERROR, description="throttled"),
        },
        summary="New backup codes for a fresh second factor; the old ones die",
    )
    def post(self, request: Request) -> Response:
        data = self.RegenerateInput(data=request.data)
        data.is_valid(raise_exception=True)
        codes = enrolment.backup_codes_regenerate(
            user=request.user,
            code=data.validated_data["code"],
            client=client_info(request),
            session_id=_session_id(request),
        )
        return Response({"backup_codes": codes})
