"""Page shells: server-rendered templates (labels, branding, error sentences) that load one small
ES module each. The pages hold no user data and make no decision: everything they show or
change goes through the public JSON API from the browser, like a customer's single-page app."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic import RedirectView, TemplateView

from iam.core.conf import iam_settings
from iam.ui.branding import branding

SOCIAL_PROVIDERS_PATH = "/api/auth/social/providers/"


def social_sign_in_available() -> bool:
    """Whether this IAM serves social sign-in (the ``social`` app's endpoints are routed): the
    pages show its buttons and the connected-accounts page only then."""
    try:
        resolve(SOCIAL_PROVIDERS_PATH)
    except Resolver404:
        return False
    return True


class UiEnabledMixin:
    """The pages answer only while ``IAM_UI_ENABLED`` is on (read per request, never frozen)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not iam_settings.ui_enabled:
            raise Http404
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


# never cached: every response carries its own CSP nonce
@method_decorator(never_cache, name="dispatch")
class PageView(UiEnabledMixin, TemplateView):
    http_method_names = ["get", "head"]
    script = ""  # the page's module under static/iam/ui/
    title = ""
    console = False  # a page of the signed-in console (navigation, silent refresh)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            "brand": branding(),
            "api_url": iam_settings.ui_api_url,
            "page_script": f"iam/ui/{self.script}",
            "page_title": self.title,
            "console": self.console,
            "social": social_sign_in_available(),
            "password_min_length": iam_settings.password_min_length,
            "access_lifetime": int(iam_settings.access_lifetime.total_seconds()),
        }


class HomeView(UiEnabledMixin, RedirectView):
    pattern_name = "ui-account"
