from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "iam.audit"
    label = "iam_audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from iam.audit import receivers  # noqa: F401  (failed mails)
