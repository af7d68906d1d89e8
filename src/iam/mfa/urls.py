from django.urls import path

from iam.mfa import apis

urlpatterns = [
    path("", apis.MfaStatusApi.as_view(), name="mfa-status"),
    path("totp/setup/", apis.TotpSetupApi.as_view(), name="mfa-totp-setup"),
    path("totp/enable/", apis.TotpEnableApi.as_view(), name="mfa-totp-enable"),
    path("totp/disable/", apis.TotpDisableApi.as_view(), name="mfa-totp-disable"),
    path("backup-codes/", apis.BackupCodesApi.as_view(), name="mfa-backup-codes"),
]
