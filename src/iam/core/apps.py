from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "iam.core"
    label = "iam_core"

    def ready(self) -> None:
        from iam.core import checks  # noqa: F401  (registers system checks)
