from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "iam.audit"
    label = "iam_audit"
    verbose_name = "Audit"
