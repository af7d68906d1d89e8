from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest

from iam.accounts.lockout import login_unlock
from iam.accounts.models import User


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "username")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "username", "email_verified", "is_active", "is_staff", "created_at")
    list_filter = ("is_active", "is_staff", "is_superuser", "email_verified")
    search_fields = ("email", "username")
    readonly_fields = ("id", "created_at", "updated_at", "last_login", "deleted_at")
    fieldsets = (
        (None, {"fields": ("id", "email", "username", "name", "password")}),
        ("Status", {"fields": ("email_verified", "pending_email", "is_active", "deleted_at")}),
        ("Permissions", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    actions = ["unlock_login"]  # iam.mfa adds "reset_mfa"

    @admin.action(
        description="Unlock sign-in (end the delays after failed passwords)",
        permissions=["change"],
    )
    def unlock_login(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:  # the user's own log shows who acted (by id), not from where
            login_unlock(actor=f"admin:{request.user.pk}", user=user)
        self.message_user(request, f"Sign-in unlocked for {queryset.count()} user(s).")

    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),
    )
