from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "iam.tokens"
    label = "iam_tokens"
    verbose_name = "Tokens and signing keys"

    def ready(self) -> None:
        from iam.core.apis import readiness_check_register
        from iam.core.crypto import secrets_at_rest_register
        from iam.tokens.models import SigningKey
        from iam.tokens.services import refresh_signing_secret_current, signing_key_current

        readiness_check_register("signing_key", signing_key_current)
        readiness_check_register("refresh_signing_key", refresh_signing_secret_current)
        secrets_at_rest_register(
            label="signing keys",
            rows=lambda: SigningKey.objects.exclude(private_key_encrypted=b""),
            field="private_key_encrypted",
        )
