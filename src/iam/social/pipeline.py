"""The IAM's step of social-core's pipeline: what the provider vouches for, reduced to one
``ProviderIdentity``. Returning it (not a dict) ends the pipeline; ``iam.social.flows`` decides
what it means for accounts. Nothing here links, creates or signs in anything.

An address counts as verified only when the provider says so in its own terms:

- OpenID Connect (generic, Google): ``email_verified`` true, read from the same source as
  ``email`` (the ID token if it has ``email``, else UserInfo, whose ``sub`` social-core checked);
- GitHub: the primary address of ``GET /user/emails``, if it is verified (the profile's public
  ``email`` is ignored);
- Microsoft Entra ID: the optional claim ``xms_edov`` (the address's domain is verified by its
  owner); Entra's ``email`` claim alone is not verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from iam.accounts.models import User
from iam.core.exceptions import SocialDomainNotAllowed

_email_valid = EmailValidator()


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """What a provider vouched for in one sign-in."""

    provider: str
    subject: str
    email: str  # "" when none was given (or it is not an address)
    email_verified: bool
    name: str


def _true(value: Any) -> bool:
    # some providers (AWS Cognito) send the claim as a string
    return value is True or (isinstance(value, str) and value.lower() == "true")


# what an account (and an identity) holds; the address check alone allows RFC 3696's 320
_ADDRESS_MAX = User._meta.get_field("email").max_length or 254


def _address(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    value = value.strip()
    try:
        _email_valid(value)
    except ValidationError:
        return ""
    address = User.objects.normalize_email(value)  # may grow: "İ" lower-cased is two
    return address if len(address) <= _ADDRESS_MAX else ""


def github_verified_email(response: dict[str, Any]) -> tuple[str, bool]:
    """The primary address from GitHub's ``/user/emails`` answer, and whether it is verified."""
    emails = response.get("emails")
    if not isinstance(emails, list):
        return "", False
    for entry in emails:
        if isinstance(entry, dict) and entry.get("primary") is True:
            return _address(entry.get("email")), entry.get("verified") is True
    return "", False


def oidc_email(
    *, kind: str, id_token: dict[str, Any] | None, response: dict[str, Any]
) -> tuple[str, bool]:
    """``(address, verified)`` from an OIDC provider's ID token or UserInfo answer."""
    source = id_token if id_token and "email" in id_token else response
    email = _address(source.get("email"))
    if kind == "microsoft":
        verified = _true(source.get("xms_edov")) or _true((id_token or {}).get("xms_edov"))
    else:
        verified = _true(source.get("email_verified"))
    return email, bool(email) and verified


def google_domain_allowed(
    *, hosted_domains: tuple[str, ...], id_token: dict[str, Any] | None, response: dict[str, Any]
) -> bool:
    """With hosted domains configured, only Google Workspace accounts of those domains (the
    ``hd`` claim of the ID token, else of UserInfo; consumer accounts have none) may sign in."""
    if not hosted_domains:
        return True
    hd = (id_token or {}).get("hd") or response.get("hd")
    return isinstance(hd, str) and hd.lower() in hosted_domains


def provider_identity(
    backend: Any,
    details: dict[str, Any],
    response: dict[str, Any],
    uid: str,
    *args: Any,
    **kwargs: Any,
) -> ProviderIdentity:
    provider = backend.strategy.provider
    id_token = getattr(backend, "id_token", None)
    if provider.kind == "github":
        email, verified = github_verified_email(response)
    else:
        email, verified = oidc_email(kind=provider.kind, id_token=id_token, response=response)
    if provider.kind == "google" and not google_domain_allowed(
        hosted_domains=provider.hosted_domains, id_token=id_token, response=response
    ):
        raise SocialDomainNotAllowed()
    name = details.get("fullname") or ""
    return ProviderIdentity(
        provider=provider.name,
        subject=str(uid),
        email=email,
        email_verified=verified,
        name=name.strip()[:150] if isinstance(name, str) else "",
    )
