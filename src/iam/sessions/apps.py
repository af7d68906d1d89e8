from django.apps import AppConfig


class SessionsConfig(AppConfig):
    name = "iam.sessions"
    label = "iam_sessions"  # Django already owns `sessions`
    verbose_name = "Device sessions"
