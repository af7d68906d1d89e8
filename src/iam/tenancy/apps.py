from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "iam.tenancy"
    label = "iam_tenancy"
    verbose_name = "Tenants"
    default_auto_field = "django.db.models.BigAutoField"
