from django.apps import AppConfig


class SocialConfig(AppConfig):
    name = "iam.social"
    label = "iam_social"
    verbose_name = "Social sign-in"

    def ready(self) -> None:
        from iam.social import checks, receivers  # noqa: F401  (registers checks and receivers)
