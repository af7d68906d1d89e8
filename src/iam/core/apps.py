from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "iam.core"
    label = "iam_core"

    def ready(self) -> None:
        from django.core.signals import request_started

        from iam.core import checks  # noqa: F401  (registers system checks)
        from iam.core.db import connections_guard

        request_started.connect(connections_guard, dispatch_uid="iam_connections_guard")
