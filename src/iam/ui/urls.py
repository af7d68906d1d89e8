"""The hosted pages, at the paths the mailed links use by default (``/verify-email``,
``/reset-password``, ``/invitations/accept``). No trailing slashes: the links are built without."""

from django.urls import path
from django.utils.translation import gettext_lazy as _

from iam.ui.views import HomeView, PageView


def page(route: str, name: str, title: str, *, console: bool = False):  # noqa: ANN201
    return path(
        route,
        PageView.as_view(
            template_name=f"iam/ui/{name.replace('-', '_')}.html",
            script=f"{name}.js",
            title=title,
            console=console,
        ),
        name=f"ui-{name}",
    )


urlpatterns = [
    path("", HomeView.as_view(), name="ui-home"),
    page("sign-in", "sign-in", _("Sign in")),
    page("sign-up", "sign-up", _("Create an account")),
    page("verify-email", "verify-email", _("Verify your e-mail address")),
    page("verify-email/resend", "resend", _("Send a new verification link")),
    page("forgot-password", "forgot-password", _("Forgot your password?")),
    page("reset-password", "reset-password", _("Choose a new password")),
    page("invitations/accept", "invitation", _("Invitation")),
    page("account", "account", _("Profile"), console=True),
    page("account/password", "password", _("Password"), console=True),
    page("account/two-factor", "two-factor", _("Two-factor authentication"), console=True),
    page("account/sessions", "sessions", _("Devices"), console=True),
    page("account/security-log", "security-log", _("Security log"), console=True),
    page("account/connections", "connections", _("Connected accounts"), console=True),
    page("account/delete", "delete", _("Delete account"), console=True),
    page("tenants", "tenants", _("Organisations"), console=True),
    page("tenant", "tenant", _("Organisation settings"), console=True),
]
