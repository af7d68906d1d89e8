"""System checks for the hosted pages: mailed links must open a page, branding must be safe."""

from __future__ import annotations

import re
from typing import Any

from django.core.checks import Error, Warning, register

from iam.core.conf import get_iam_settings
from iam.ui.branding import color_parse, contrast_ratio

WHITE = "#ffffff"


@register()
def check_ui_settings(app_configs: Any = None, **kwargs: Any) -> list:
    conf = get_iam_settings()
    errors: list = []
    if not conf.frontend_url:
        errors.append(
            Error(
                "IAM_FRONTEND_URL is empty: with the hosted pages off (IAM_UI_ENABLED=false) "
                "mailed links (verification, password reset, invitations) would open nothing.",
                hint="Set IAM_FRONTEND_URL to the front end that serves those pages.",
                id="iam_ui.E001",
            )
        )
    for name, value in (
        ("IAM_UI_COLOR_PRIMARY", conf.ui_color_primary),
        ("IAM_UI_COLOR_BACKGROUND", conf.ui_color_background),
    ):
        if color_parse(value) is None:
            errors.append(
                Error(f"{name} must be #rgb or #rrggbb, not {value!r}.", id="iam_ui.E002")
            )
    if color_parse(conf.ui_color_primary) and contrast_ratio(conf.ui_color_primary, WHITE) < 4.5:
        errors.append(
            Warning(
                "IAM_UI_COLOR_PRIMARY has a contrast below 4.5:1 against the pages' white "
                "panels: links in that colour fail WCAG AA.",
                hint="Pick a darker primary colour.",
                id="iam_ui.W001",
            )
        )
    logo = conf.ui_logo_url
    if logo and not (
        logo.startswith("data:image/") or (logo.startswith("/") and not logo.startswith("//"))
    ):
        errors.append(
            Error(
                "IAM_UI_LOGO_URL must be a path on the IAM (/static/…) or a data:image/ URI: "
                "the pages load nothing from other origins (Content-Security-Policy).",
                hint="Put the file in a folder listed in IAM_STATIC_DIRS.",
                id="iam_ui.E003",
            )
        )
    api = conf.ui_api_url
    if api and not re.fullmatch(r"https?://[^/\s?#@]+", api):
        errors.append(
            Error(
                f"IAM_UI_API_URL must be an origin (https://iam.example.com), not {api!r}.",
                id="iam_ui.E004",
            )
        )
    return errors
