from django.apps import AppConfig


class AuthnConfig(AppConfig):
    name = "iam.authn"
    label = "iam_authn"
    verbose_name = "Authentication"

    def ready(self) -> None:
        from iam.authn import schema  # noqa: F401  (OpenAPI extension for IAMAuthentication)
