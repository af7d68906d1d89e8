from django.contrib import admin

from iam.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "type", "user", "ip", "session_id")
    list_filter = ("type",)
    search_fields = ("user__email", "ip", "session_id")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
