from django.contrib import admin

from iam.tenancy.models import Invitation, Membership, Role, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "domain", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("slug", "name", "domain")
    readonly_fields = ("id", "created_at")
    inlines = [MembershipInline]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "label", "rank", "permissions")
    ordering = ("-rank",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    search_fields = ("user__email", "tenant__slug")
    autocomplete_fields = ["user", "tenant"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "tenant", "role", "created_at", "expires_at", "accepted_at")
    list_filter = ("tenant", "role")
    search_fields = ("email", "tenant__slug")
    readonly_fields = ("id", "created_at", "accepted_at", "accepted_by", "invited_by")
