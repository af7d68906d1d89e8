"""Account endpoints. Thin: parse input, call one service, render the result."""

from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from iam.accounts import services
from iam.accounts.serializers import MeSerializer, me_data
from iam.accounts.throttles import AccountMailThrottle, RegisterIPThrottle
from iam.core.apis import (
    ERROR,
    NormalizedEmailField,
    NoStoreAPIView,
    PublicAuthAPIView,
    password_field,
)
from iam.core.http import client_info
from iam.core.throttles import AnonThrottle, PasswordCheckThrottle, UserThrottle
from iam.sessions.transport import clear_token_cookies

TOKEN_MAX = 1024


def _username() -> serializers.CharField:
    return serializers.CharField(
        max_length=150,
        required=False,
        allow_null=True,
        allow_blank=True,
        validators=[UnicodeUsernameValidator()],
    )


class Message(serializers.Serializer):
    detail = serializers.CharField()


def _message(text: str, code: int = status.HTTP_200_OK) -> Response:
    return Response({"detail": text}, status=code)


class RegisterApi(PublicAuthAPIView):
    throttle_classes = [AnonThrottle, RegisterIPThrottle, AccountMailThrottle]

    class RegisterInput(serializers.Serializer):
        email = NormalizedEmailField()
        password = password_field()
        username = _username()

    class RegisterOutput(serializers.Serializer):
        detail = serializers.CharField()
        email = serializers.EmailField()

    @extend_schema(
        request=RegisterInput,
        responses={
            201: RegisterOutput,
            400: OpenApiResponse(ERROR, description="password_rejected, username_taken, invalid"),
            429: OpenApiResponse(ERROR, description="throttled"),
        },
        summary="Create an account; a verification link is mailed (same answer for a taken "
        "address, whose owner is told instead)",
    )
    def post(self, request: Request) -> Response:
        data = self.RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_register(
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            username=data.validated_data.get("username") or None,
            client=client_info(request),
        )
        body = {
            "detail": "Check your inbox: we sent a link to verify your address.",
            "email": data.validated_data["email"],
        }
        return Response(body, status=status.HTTP_201_CREATED)


class VerifyEmailApi(PublicAuthAPIView):
    class VerifyEmailInput(serializers.Serializer):
        token = serializers.CharField(max_length=TOKEN_MAX)

    class VerifyEmailOutput(serializers.Serializer):
        detail = serializers.CharField()
        email = serializers.EmailField()

    @extend_schema(
        request=VerifyEmailInput,
        responses={
            200: VerifyEmailOutput,
            400: OpenApiResponse(
                ERROR, description="token_invalid, token_expired, token_used, email_taken"
            ),
        },
        summary="Use a verification link (a new account's address, or a new address)",
    )
    def post(self, request: Request) -> Response:
        data = self.VerifyEmailInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.email_verify(
            token=data.validated_data["token"], client=client_info(request)
        )
        return Response({"detail": "Your e-mail address is verified.", "email": user.email})


class EmailInput(serializers.Serializer):
    email = NormalizedEmailField()


class VerifyEmailResendApi(PublicAuthAPIView):
    throttle_classes = [AnonThrottle, AccountMailThrottle]

    @extend_schema(
        request=EmailInput,
        responses={202: Message, 400: ERROR, 429: ERROR},
        summary="Mail a new verification link (always 202)",
    )
    def post(self, request: Request) -> Response:
        data = EmailInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.email_verification_resend(
            email=data.validated_data["email"], client=client_info(request)
        )
        return _message(
            "If this address has an unverified account, a new link is on its way.",
            status.HTTP_202_ACCEPTED,
        )


class PasswordResetApi(PublicAuthAPIView):
    throttle_classes = [AnonThrottle, AccountMailThrottle]

    @extend_schema(
        request=EmailInput,
        responses={202: Message, 400: ERROR, 429: ERROR},
        summary="Mail a password reset link (always 202)",
    )
    def post(self, request: Request) -> Response:
        data = EmailInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(
            email=data.validated_data["email"], client=client_info(request)
        )
        return _message(
            "If this address has an account, a link to reset its password is on its way.",
            status.HTTP_202_ACCEPTED,
        )


class PasswordResetConfirmApi(PublicAuthAPIView):
    class PasswordResetConfirmInput(serializers.Serializer):
        token = serializers.CharField(max_length=TOKEN_MAX)
        password = password_field()

    @extend_schema(
        request=PasswordResetConfirmInput,
        responses={
            200: Message,
            400: OpenApiResponse(
                ERROR, description="token_invalid, token_expired, token_used, password_rejected"
            ),
            503: ERROR,
        },
        summary="Set a new password from a reset link; every session of the account ends",
    )
    def post(self, request: Request) -> Response:
        data = self.PasswordResetConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(
            token=data.validated_data["token"],
            password=data.validated_data["password"],
            client=client_info(request),
        )
        return _message("Your password was changed. Sign in with the new one.")


class PasswordChangeApi(NoStoreAPIView):
    throttle_classes = [UserThrottle, PasswordCheckThrottle]
    password_check_field = "current_password"  # noqa: S105 (a field name)

    class PasswordChangeInput(serializers.Serializer):
        current_password = password_field()
        new_password = password_field()

    @extend_schema(
        request=PasswordChangeInput,
        responses={
            200: Message,
            400: OpenApiResponse(ERROR, description="invalid_password, password_rejected"),
            401: ERROR,
            429: ERROR,
            503: ERROR,
        },
        summary="Change the password; every other session ends, this one stays signed in",
    )
    def post(self, request: Request) -> Response:
        data = self.PasswordChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_change(
            user=request.user,
            current_password=data.validated_data["current_password"],
            new_password=data.validated_data["new_password"],
            session_id=request.auth["sid"],
            client=client_info(request),
        )
        return _message("Your password was changed. Your other sessions were signed out.")


class DeleteWithBodySchema(AutoSchema):
    """drf-spectacular leaves DELETE bodies out; ``DELETE /me`` needs one (the password)."""

    def _get_request_body(self, direction: str = "request") -> dict | None:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


class MeApi(NoStoreAPIView):
    """The signed-in user (either transport): read, update, delete. Reads and updates answer
    with the user and the access token's authorization context (tenant, roles, perms)."""

    schema = DeleteWithBodySchema()

    class MePatchInput(serializers.Serializer):
        username = _username()
        name = serializers.CharField(max_length=150, required=False, allow_blank=True)
        email = NormalizedEmailField(
            required=False,
            help_text="A new address takes effect once the link mailed to it is used.",
        )
        current_password = password_field(
            required=False, help_text="Required to change the e-mail address."
        )

    class MeDeleteInput(serializers.Serializer):
        password = password_field()
        code = serializers.CharField(
            required=False,
            allow_blank=True,
            allow_null=True,
            max_length=64,
            help_text="A TOTP or backup code; required when two-factor authentication is on "
            "(ignored otherwise).",
        )

    throttle_classes = [UserThrottle, PasswordCheckThrottle]

    @property
    def password_check_field(self) -> str:  # PATCH: an e-mail change; DELETE: the deletion
        return "current_password" if self.request.method == "PATCH" else "password"

    @extend_schema(
        responses={200: MeSerializer},
        summary="The current user, and the tenant, roles and permissions of this access token",
    )
    def get(self, request: Request) -> Response:
        return Response(me_data(request.user, request.auth))

    @extend_schema(
        request=MePatchInput,
        responses={
            200: MeSerializer,
            400: OpenApiResponse(
                ERROR, description="username_taken, password_required, invalid_password"
            ),
            401: ERROR,
        },
        summary="Update the profile; a new e-mail address waits for verification",
    )
    def patch(self, request: Request) -> Response:
        data = self.MePatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        current_password = changes.pop("current_password", None)
        user = services.profile_update(
            user=request.user,
            changes=changes,
            current_password=current_password,
            client=client_info(request),
        )
        return Response(me_data(user, request.auth))

    @extend_schema(
        request=MeDeleteInput,
        responses={
            204: None,
            400: OpenApiResponse(
                ERROR,
                description="password_required, invalid_password, mfa_code_required, invalid_code",
            ),
            401: ERROR,
            429: ERROR,
            503: ERROR,
        },
        summary="Delete the account: deactivated, personal data erased, every session ended",
    )
    def delete(self, request: Request) -> Response:
        data = self.MeDeleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.account_delete(
            user=request.user,
            password=data.validated_data["password"],
            code=data.validated_data.get("code"),
            client=client_info(request),
            session_id=request.auth["sid"],
        )
        response = Response(status=status.HTTP_204_NO_CONTENT)
        clear_token_cookies(response)
        return response
