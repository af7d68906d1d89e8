from django.contrib import admin

from iam.sessions.models import DeviceSession


@admin.register(DeviceSession)
class DeviceSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "transport", "created_at", "last_used_at", "revoked_at", "ip")
    list_filter = ("transport", "revoke_reason")
    search_fields = ("user__email", "ip", "id")
    readonly_fields = [f.name for f in DeviceSession._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
