from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "iam.tenancy"
    label = "iam_tenancy"
    verbose_name = "Tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from iam.tenancy import signals  # noqa: F401  (registers the receivers)
