from django.apps import AppConfig


class SessionsConfig(AppConfig):
    name = "iam.sessions"
    label = "iam_sessions"  # Django already owns `sessions`
    verbose_name = "Device sessions"

    def ready(self) -> None:
        from iam.sessions import auth_state  # noqa: F401  (connects the user-change signals)
