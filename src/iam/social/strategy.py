"""social-core's strategy and storage for the IAM: social-auth-app-django's Django strategy (the
request, its session), reading a provider's settings from the IAM's provider configuration
instead of ``SOCIAL_AUTH_*`` Django settings, with URLs built from ``IAM_ISSUER`` (never from
the request's ``Host``) and storage in this app's models."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from social_core.storage import BaseStorage
from social_django.strategy import DjangoStrategy

from iam.core.conf import iam_settings
from iam.social.models import SocialAssociation, SocialNonce
from iam.social.providers import ProviderConfig

# social-core runs these; the last one hands the verified facts to the IAM (iam.social.flows).
PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "iam.social.pipeline.provider_identity",
)


class IamStorage(BaseStorage):
    nonce = SocialNonce
    association = SocialAssociation


def callback_url(name: str) -> str:
    """The redirect URI registered at the provider."""
    return f"{iam_settings.issuer.rstrip('/')}/api/auth/social/{name}/callback/"


class IamStrategy(DjangoStrategy):
    def __init__(self, *, request: HttpRequest, provider: ProviderConfig) -> None:
        self.provider = provider
        super().__init__(IamStorage, request)

    def backend(self) -> Any:
        return self.provider.backend_class()(self, redirect_uri=callback_url(self.provider.name))

    def _settings(self) -> dict[str, Any]:
        provider = self.provider
        ttl = int(iam_settings.social_state_ttl.total_seconds())
        values: dict[str, Any] = {
            "KEY": provider.client_id,
            "SECRET": provider.client_secret,
            "PIPELINE": list(PIPELINE),
            "USE_PKCE": True,
            "PKCE_CODE_CHALLENGE_METHOD": "S256",
            "STATE_LIFETIME": ttl,
            "NONCE_LIFETIME": ttl,
            "ID_TOKEN_MAX_AGE": 600,
            "JWT_ALGORITHMS": ["RS256"],
            "JWT_LEEWAY": int(iam_settings.leeway.total_seconds()),
            "REQUESTS_TIMEOUT": iam_settings.social_http_timeout,
            "IGNORE_DEFAULT_SCOPE": True,
        }
        if provider.kind == "github":
            values["SCOPE"] = ["user:email"]
        elif provider.kind == "oidc":
            values["SCOPE"] = list(provider.scopes) or ["openid", "email", "profile"]
        else:
            values["SCOPE"] = ["openid", "email", "profile"]
        if provider.kind == "google" and len(provider.hosted_domains) == 1:
            values["AUTH_EXTRA_ARGUMENTS"] = {"hd": provider.hosted_domains[0]}
        return values

    def setting(self, name: str, default: Any = None, backend: Any = None) -> Any:
        return self._settings().get(name, default)

    def get_setting(self, name: str) -> Any:
        raise AttributeError(name)  # nothing is read from SOCIAL_AUTH_* Django settings

    def build_absolute_uri(self, path: str | None = None) -> str:
        if path and path.startswith(("http://", "https://")):
            return path
        return f"{iam_settings.issuer.rstrip('/')}{path or '/'}"

    def authenticate(self, backend: Any, *args: Any, **kwargs: Any) -> Any:
        # the pipeline runs on this backend directly, not through Django's authenticate()
        # (which would try every AUTHENTICATION_BACKENDS entry, and log the user in)
        kwargs.update(strategy=self, storage=self.storage, backend=backend)
        kwargs.pop("request", None)
        return backend.authenticate(*args, **kwargs)

    def clean_authenticate_args(self, *args: Any, **kwargs: Any) -> tuple[tuple, dict]:
        kwargs.pop("request", None)
        return args, kwargs
