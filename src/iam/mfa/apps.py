from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "iam.mfa"
    label = "iam_mfa"
    verbose_name = "Two-factor authentication"
