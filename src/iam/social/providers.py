"""The configured identity providers and the social-core backend each one runs on.

Configuration comes from the environment (``config/settings.py`` → ``IAM_SOCIAL_PROVIDERS``); a
provider without a client id and secret is not offered. The backends are social-core's, with the
few checks it leaves out added here:

- generic OIDC (``OpenIdConnectAuth``): the discovery document's ``issuer`` must be the
  configured issuer (OpenID Connect Discovery §4.3), and ID tokens must carry exactly it;
- Google (``GoogleOpenIdConnect``): Google documents two spellings of its issuer and social-core
  pins only one; UserInfo comes from discovery, and whether the address is verified is decided
  by the IAM's pipeline, not by an exception;
- Microsoft Entra ID: social-core's Azure backends do not check the OIDC ``nonce``, so Entra runs
  on ``OpenIdConnectAuth`` with its v2.0 discovery, resolving the multi-tenant issuer template
  (``…/{tenantid}/v2.0``) with the token's ``tid``;
- GitHub (``GithubOAuth2``): with PKCE, and the e-mails API always asked (scope ``user:email``).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from social_core.backends.github import GithubOAuth2
from social_core.backends.google_openidconnect import GoogleOpenIdConnect
from social_core.backends.oauth import BaseOAuth2PKCE
from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.exceptions import AuthResponseError

from iam.core.conf import iam_settings, on_settings_reset

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
RESERVED_NAMES = frozenset({"providers", "identities", "link"})
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
DISPLAY_NAMES = {"google": "Google", "github": "GitHub", "microsoft": "Microsoft"}


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    kind: str  # google | github | microsoft | oidc
    client_id: str
    client_secret: str
    display_name: str
    auto_link: bool = False
    issuer: str = ""  # OIDC issuer (discovery); built-ins override it only in tests
    scopes: tuple[str, ...] = ()
    hosted_domains: tuple[str, ...] = ()
    tenant: str = "common"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_id_tokens(self) -> bool:
        """Whether the provider issues OIDC ID tokens (the token endpoint accepts them)."""
        return self.kind != "github"

    def authorization_response_issuer_ok(self, iss: str | None) -> bool:
        """RFC 9207: an ``iss`` in the authorization response must be this provider's (a
        response from another provider, the mix-up attack, is refused). Providers that do not
        send it (GitHub, Entra's multi-tenant endpoints) are not asked to."""
        if iss is None or self.kind == "github" or self.issuer.startswith(MICROSOFT_AUTHORITY):
            return True
        if self.kind == "google" and self.issuer in GOOGLE_ISSUERS:
            return iss in GOOGLE_ISSUERS
        return iss == self.issuer

    def backend_class(self) -> type:
        return _backend_class(self.kind, self.name)


def _config(raw: dict[str, Any]) -> ProviderConfig:
    kind = raw["kind"]
    tenant = raw.get("tenant") or "common"
    issuer = (raw.get("issuer") or "").rstrip("/")
    if kind == "google" and not issuer:
        issuer = GOOGLE_ISSUERS[0]
    if kind == "microsoft" and not issuer:
        issuer = f"{MICROSOFT_AUTHORITY}/{tenant}/v2.0"
    return ProviderConfig(
        name=raw["name"],
        kind=kind,
        client_id=raw.get("client_id") or "",
        client_secret=raw.get("client_secret") or "",
        display_name=raw.get("display_name") or DISPLAY_NAMES.get(kind, raw["name"].title()),
        auto_link=bool(raw.get("auto_link")),
        issuer=issuer,
        scopes=tuple(raw.get("scopes") or ()),
        hosted_domains=tuple(d.strip().lower() for d in raw.get("hosted_domains") or () if d),
        tenant=tenant,
        extra=dict(raw.get("extra") or {}),
    )


@cache
def providers() -> tuple[ProviderConfig, ...]:
    """The enabled providers, in configuration order: those with a client id and secret."""
    configs = (_config(raw) for raw in iam_settings.social_providers)
    return tuple(c for c in configs if c.client_id and c.client_secret)


on_settings_reset(providers.cache_clear)


def provider_get(name: str) -> ProviderConfig | None:
    return next((p for p in providers() if p.name == name), None)


def provider_names_invalid() -> list[str]:
    """Configured names that cannot be used (for the system checks)."""
    names = [raw.get("name", "") for raw in iam_settings.social_providers]
    bad = [n for n in names if not NAME_RE.match(n) or n in RESERVED_NAMES]
    bad += sorted({n for n in names if names.count(n) > 1})
    return bad


# --- backends ------------------------------------------------------------------------------


class IamBackendMixin:
    """What every provider backend shares: the provider's configuration (``strategy.provider``)
    decides the endpoints, never a Django setting named after the backend."""

    def iam_provider(self) -> ProviderConfig:
        return self.strategy.provider  # type: ignore[attr-defined]


class IamOpenIdConnect(IamBackendMixin, OpenIdConnectAuth):
    """A generic OpenID Connect provider found by discovery from its issuer."""

    def oidc_endpoint(self) -> str:
        return self.iam_provider().issuer

    def oidc_config(self) -> dict:
        config = super().oidc_config()
        if config.get("issuer") != self.expected_discovery_issuer():
            # OIDC Discovery §4.3: the document must name the issuer it was fetched for.
            raise AuthResponseError(self, claim="issuer", code="invalid_claim", stage="begin")
        return config

    def expected_discovery_issuer(self) -> str:
        return self.iam_provider().issuer

    def id_token_issuer(self) -> Any:
        return self.iam_provider().issuer


class IamGoogle(IamOpenIdConnect, GoogleOpenIdConnect):
    # endpoints from Google's discovery document, like any OIDC provider
    AUTHORIZATION_URL = ""
    ACCESS_TOKEN_URL = ""
    REVOKE_TOKEN_URL = ""

    def id_token_issuer(self) -> Any:
        issuer = self.iam_provider().issuer
        return GOOGLE_ISSUERS if issuer in GOOGLE_ISSUERS else (issuer,)

    def user_data(self, access_token: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return OpenIdConnectAuth.user_data(self, access_token, *args, **kwargs)


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, NOT verified: only to choose what to verify it against."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def microsoft_issuer(template: str, claims: dict[str, Any]) -> str | None:
    """Entra's multi-tenant discovery names its issuer as ``…/{tenantid}/v2.0``: the issuer a
    token must carry is that template with the token's own ``tid`` (None without one). A
    single-directory issuer is returned as it is."""
    if "{tenantid}" not in template and "{tenantId}" not in template:
        return template
    tid = claims.get("tid")
    if not isinstance(tid, str) or not re.fullmatch(r"[0-9a-fA-F-]{36}", tid):
        return None
    return template.replace("{tenantid}", tid).replace("{tenantId}", tid)


class IamMicrosoft(IamOpenIdConnect):
    _token_claims: dict[str, Any] | None = None

    def oidc_config(self) -> dict:
        if self.iam_provider().issuer.startswith(MICROSOFT_AUTHORITY):
            # Entra's own endpoints: the multi-tenant ones name an issuer template (resolved per
            # token below), so the document cannot name the configured URL
            return OpenIdConnectAuth.oidc_config(self)
        return super().oidc_config()

    def decode_and_validate_id_token(self, id_token: str, access_token: str | None) -> dict:
        self._token_claims = unverified_claims(id_token)  # only to pick the issuer to demand
        return super().decode_and_validate_id_token(id_token, access_token)

    def id_token_issuer(self) -> Any:
        template = self.oidc_config().get("issuer", "")
        return microsoft_issuer(template, self._token_claims or {}) or "(no tenant in token)"


class IamGithub(IamBackendMixin, GithubOAuth2, BaseOAuth2PKCE):
    """GitHub OAuth apps (no ID tokens): the user from ``/user``, the addresses from
    ``/user/emails``."""

    def api_url(self) -> str:
        return self.iam_provider().extra.get("api_url") or self.API_URL

    def authorization_url(self) -> str:
        return self.iam_provider().extra.get("authorization_url") or self.AUTHORIZATION_URL

    def access_token_url(self) -> str:
        return self.iam_provider().extra.get("access_token_url") or self.ACCESS_TOKEN_URL


_KINDS: dict[str, type] = {
    "oidc": IamOpenIdConnect,
    "google": IamGoogle,
    "microsoft": IamMicrosoft,
    "github": IamGithub,
}


@cache
def _backend_class(kind: str, name: str) -> type:
    """One class per provider: social-core keys its caches (discovery, JWKS) by class and URL,
    and a backend's ``name`` is the provider's."""
    return type(
        f"{_KINDS[kind].__name__}_{name.replace('-', '_')}", (_KINDS[kind],), {"name": name}
    )


def jwks_cache_clear() -> None:
    """Forget cached discovery documents and key sets (tests; a rotated key is refetched on an
    unknown ``kid`` anyway)."""
    for method in (
        OpenIdConnectAuth.get_openid_configuration,
        OpenIdConnectAuth.get_jwks_keys_for_uri,
    ):
        invalidate = getattr(method, "invalidate", None)
        if invalidate is not None:
            invalidate()
