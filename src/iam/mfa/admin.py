"""The user admin with the operator's MFA reset (lost authenticator) next to the accounts'
actions."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from iam.accounts.admin import UserAdmin
from iam.accounts.models import User
from iam.mfa.enrolment import mfa_reset

admin.site.unregister(User)


@admin.register(User)
class MfaUserAdmin(UserAdmin):
    actions = ["reset_mfa", "unlock_login"]

    @admin.action(
        description="Reset two-factor authentication (lost authenticator)",
        permissions=["change"],
    )
    def reset_mfa(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = 0
        for user in queryset:  # the user's own log shows who acted (by id), not from where
            done += mfa_reset(user=user, actor=f"admin:{request.user.pk}")
        self.message_user(
            request, f"Two-factor authentication reset for {done} user(s).", messages.SUCCESS
        )
