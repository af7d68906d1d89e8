from django.urls import path

from iam.accounts import apis

urlpatterns = [
    path("register/", apis.RegisterApi.as_view(), name="auth-register"),
    path("verify-email/", apis.VerifyEmailApi.as_view(), name="auth-verify-email"),
    path(
        "verify-email/resend/",
        apis.VerifyEmailResendApi.as_view(),
        name="auth-verify-email-resend",
    ),
    path("password/reset/", apis.PasswordResetApi.as_view(), name="auth-password-reset"),
    path(
        "password/reset/confirm/",
        apis.PasswordResetConfirmApi.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("password/change/", apis.PasswordChangeApi.as_view(), name="auth-password-change"),
]
