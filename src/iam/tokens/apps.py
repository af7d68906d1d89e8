from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "iam.tokens"
    label = "iam_tokens"
    verbose_name = "Tokens and signing keys"
