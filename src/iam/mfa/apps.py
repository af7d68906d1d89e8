from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "iam.mfa"
    label = "iam_mfa"
    verbose_name = "Two-factor authentication"

    def ready(self) -> None:
        from iam.core.crypto import secrets_at_rest_register
        from iam.mfa import receivers  # noqa: F401  (an account deletion's second factor)
        from iam.mfa.models import TotpDevice

        secrets_at_rest_register(
            label="TOTP secrets", rows=TotpDevice.objects.all, field="secret_encrypted"
        )
