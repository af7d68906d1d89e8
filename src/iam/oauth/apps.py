from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "iam.oauth"
    label = "iam_oauth"
    verbose_name = "Service clients"
    default_auto_field = "django.db.models.BigAutoField"
