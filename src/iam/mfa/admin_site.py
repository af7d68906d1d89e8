"""The Django admin site, with the second factor for staff who turned MFA on.

The login form asks for a code next to the password; a staff user with MFA on is let in only
with a right one, and a session that did not pass it (signed in before MFA was turned on) is
sent back to the login page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from iam.core.exceptions import IAMError

MFA_PASSED = "iam_admin_mfa_passed"


class MfaAdminAuthenticationForm(AdminAuthenticationForm):
    code = forms.CharField(
        label="Two-factor code",
        required=False,
        max_length=64,
        help_text="From your authenticator app, or a backup code (only if two-factor is on).",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    mfa_passed = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()  # password check and staff check first
        user = self.get_user()
        if user is None:
            return cleaned
        from iam.authn.apis import client_info
        from iam.mfa.selectors import mfa_enabled
        from iam.mfa.services import mfa_code_verify
        from iam.sessions.services import ClientInfo

        if not mfa_enabled(user_id=user.pk):
            return cleaned
        code = (self.cleaned_data.get("code") or "").strip()
        if not code:
            raise forms.ValidationError(
                "Enter the code from your authenticator app.", code="mfa_required"
            )
        client = client_info(self.request) if self.request else ClientInfo(None, "")
        try:
            mfa_code_verify(user_id=user.pk, code=code, client=client, purpose="admin_login")
        except IAMError as exc:
            raise forms.ValidationError(exc.detail, code=exc.code) from exc
        self.mfa_passed = True
        return cleaned


class MfaAdminLoginView(LoginView):
    def form_valid(self, form: MfaAdminAuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)  # logs in (new session key)
        if form.mfa_passed:
            self.request.session[MFA_PASSED] = str(form.get_user().pk)
        return response


class IAMAdminSite(admin.AdminSite):
    login_form = MfaAdminAuthenticationForm
    login_template = "iam/admin/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        from iam.mfa.selectors import mfa_enabled

        if request.session.get(MFA_PASSED) == str(request.user.pk):
            return True
        return not mfa_enabled(user_id=request.user.pk)

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        redirect_url = LoginView().get_redirect_url(request) or reverse(
            "admin:index", current_app=self.name
        )
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(redirect_url)
        context = {
            **self.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
            "next": redirect_url,
            **(extra_context or {}),
        }
        request.current_app = self.name
        return MfaAdminLoginView.as_view(
            extra_context=context,
            authentication_form=self.login_form,
            template_name=self.login_template,
        )(request)
