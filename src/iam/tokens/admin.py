from django.contrib import admin

from iam.tokens.models import SigningKey


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    """Read-only: keys change only through `manage.py rotate_signing_keys` (audited)."""

    list_display = ("kid", "state", "created_at", "activated_at", "retired_at", "publish_until")
    list_filter = ("state",)
    exclude = ("private_key_encrypted",)

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
