"""The Django admin site, with the second factor for staff who turned MFA on.

The login form asks for a code next to the password; a staff user with MFA on is let in only
with a right one, and a session that did not pass it (signed in before MFA was turned on) is
sent back to the login page.
"""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from iam.accounts.lockout import login_account_key, login_failure_record, login_lockout_check
from iam.accounts.selectors import user_get_by_login
from iam.accounts.throttles import login_rate_take
from iam.core.broadcasts import broadcasts_deferred
from iam.core.exceptions import IAMError, Throttled
from iam.core.http import NO_CLIENT, client_info
from iam.mfa.selectors import mfa_enabled
from iam.mfa.verification import mfa_code_verify

MFA_PASSED = "iam_admin_mfa_passed"


class _NoEchoInput(forms.TextInput):
    """A one-time code is never written back into the page (a failed attempt's code may still
    be unused)."""

    def format_value(self, value: Any) -> None:
        return None


class MfaAdminAuthenticationForm(AdminAuthenticationForm):
    """Password, then the second factor for staff with MFA on. Every attempt counts against the
    API login's per-IP and per-account limits, in the same buckets (``login_rate_take``), and
    wrong passwords towards the same sign-in delays (``iam.accounts.lockout``); both are checked
    before any password is hashed."""

    code = forms.CharField(
        label="Two-factor code",
        required=False,
        max_length=64,
        help_text="From your authenticator app, or a backup code (only if two-factor is on).",
        widget=_NoEchoInput(attrs={"autocomplete": "one-time-code"}),
    )

    mfa_passed = False
    retry_after: int | None = None  # set when a limit refused the attempt

    def clean(self) -> dict[str, Any]:
        client = client_info(self.request) if self.request else NO_CLIENT
        identifier = str(self.cleaned_data.get("username") or "")
        account = user_get_by_login(identifier=identifier)
        account_key = login_account_key(account, identifier)
        try:
            wait = login_rate_take(ip=client.ip, account_key=account_key if identifier else None)
            if wait > 0:
                raise Throttled(
                    f"Too many sign-in attempts: wait {int(wait) + 1} seconds and try again.",
                    retry_after=int(wait) + 1,
                )
            login_lockout_check(
                account_key=account_key, ip=client.ip, user_id=account.pk if account else None
            )
        except IAMError as exc:
            raise self._refusal(exc) from exc
        try:
            cleaned = super().clean()  # password check and staff check
        except forms.ValidationError as exc:
            if exc.code == "invalid_login":
                login_failure_record(account_key=account_key, ip=client.ip)
            raise
        user = self.get_user()
        if user is None or not mfa_enabled(user_id=user.pk):
            return cleaned
        code = (self.cleaned_data.get("code") or "").strip()
        if not code:
            raise forms.ValidationError(
                "Enter the code from your authenticator app.", code="mfa_required"
            )
        try:
            mfa_code_verify(user_id=user.pk, code=code, client=client, purpose="admin_login")
        except IAMError as exc:
            raise self._refusal(exc) from exc
        self.mfa_passed = True
        return cleaned

    def _refusal(self, exc: IAMError) -> forms.ValidationError:
        """The form error for a refusal; a limit's also sets ``retry_after`` (the answer is
        then ``429``, see ``MfaAdminLoginView``)."""
        if isinstance(exc, Throttled):
            self.retry_after = exc.retry_after
        return forms.ValidationError(exc.detail, code=exc.code)


class MfaAdminLoginView(LoginView):
    def form_invalid(self, form: MfaAdminAuthenticationForm) -> HttpResponse:
        """The form again with its error; refused by a limit, as ``429`` with ``Retry-After``
        (as the API answers)."""
        response = super().form_invalid(form)
        if form.retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response

    def form_valid(self, form: MfaAdminAuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)  # logs in (new session key)
        if form.mfa_passed:
            self.request.session[MFA_PASSED] = str(form.get_user().pk)
        return response


NOT_PROPAGATED = (
    "Saved, but Redis could not be told: for up to a minute, some IAM processes may still accept "
    "what this change revoked. Saving again re-sends it."
)


class IAMAdminSite(admin.AdminSite):
    login_form = MfaAdminAuthenticationForm
    login_template = "iam/admin/login.html"

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        """Every admin page runs its change to the end and commits it, also when Redis cannot be
        told of a revocation (a deactivated user, a revoked session, a removed membership): the
        page then says so instead of failing (``iam.sessions.auth_state``)."""
        inner = super().admin_view(view, cacheable)

        @functools.wraps(inner)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            with broadcasts_deferred(report=False) as outcome:
                response = inner(request, *args, **kwargs)
            if outcome.failure is not None:
                messages.warning(request, NOT_PROPAGATED)
            return response

        return wrapper

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
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
