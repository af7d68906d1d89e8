from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from iam.sessions.models import DeviceSession, RevokeReason
from iam.sessions.services import session_revoke


@admin.register(DeviceSession)
class DeviceSessionAdmin(admin.ModelAdmin):
    """Sessions are revoked (immediately effective, kept for the record), never edited here."""

    list_display = ("id", "user", "transport", "created_at", "last_used_at", "revoked_at", "ip")
    list_filter = ("transport", "revoke_reason")
    search_fields = ("user__email", "ip", "id")
    readonly_fields = [f.name for f in DeviceSession._meta.fields]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected sessions")
    def revoke(self, request: HttpRequest, queryset: QuerySet[DeviceSession]) -> None:
        count = sum(session_revoke(session=s, reason=RevokeReason.ADMIN) for s in queryset)
        self.message_user(request, f"Revoked {count} session(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
