"""System checks of the social sign-in configuration."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from iam.core.conf import get_iam_settings
from iam.social.providers import provider_names_invalid
from iam.social.redirects import _origin


@register()
def check_social_settings(app_configs: Any = None, **kwargs: Any) -> list:
    errors: list = []
    conf = get_iam_settings()
    for name in provider_names_invalid():
        errors.append(
            Error(
                f"Social sign-in provider name {name!r} is not usable: names are unique, 1-32 "
                "lower-case letters, digits and '-', and not 'providers', 'identities' or 'link'.",
                id="iam.E020",
            )
        )
    for raw in conf.social_providers:
        name = raw.get("name", "")
        if not raw.get("client_secret"):
            errors.append(
                Warning(
                    f"Social sign-in provider {name!r} has a client id but no secret: it is "
                    "not offered.",
                    id="iam.W020",
                )
            )
        if raw.get("kind") == "oidc" and not raw.get("issuer"):
            errors.append(
                Error(
                    f"IAM_SOCIAL_OIDC_{name.upper().replace('-', '_')}_ISSUER is not set.",
                    id="iam.E021",
                )
            )
        issuer = raw.get("issuer") or ""
        if issuer and not settings.DEBUG and not issuer.startswith("https://"):
            errors.append(
                Warning(
                    f"Social sign-in provider {name!r}: the issuer is not https, so its keys "
                    "and tokens travel unprotected.",
                    id="iam.W021",
                )
            )
    for origin in conf.allowed_redirect_origins:
        if _origin(origin.strip().rstrip("/")) is None:
            errors.append(
                Error(
                    f"IAM_ALLOWED_REDIRECT_ORIGINS: {origin!r} is not an http(s) origin.",
                    id="iam.E022",
                )
            )
    return errors
