from django.apps import AppConfig


class UiConfig(AppConfig):
    name = "iam.ui"
    label = "iam_ui"
    verbose_name = "Hosted pages"

    def ready(self) -> None:
        from iam.ui import checks  # noqa: F401  (registers system checks)
