from django.apps import AppConfig


class SessionsConfig(AppConfig):
    name = "iam.sessions"
    label = "iam_sessions"  # Django already owns `sessions`
    verbose_name = "Device sessions"

    def ready(self) -> None:
        from iam.sessions import (  # noqa: F401  (connect their receivers)
            auth_state,  # user changes
            tenants,  # tenants deactivated, memberships ended
        )
