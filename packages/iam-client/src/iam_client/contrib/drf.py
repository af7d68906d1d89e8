"""Django REST framework glue: bearer authentication with IAM tokens and permission classes.

    # settings.py
    IAM_CLIENT = {"ISSUER": "https://iam.example.com", "AUDIENCE": "orders-api"}
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["iam_client.contrib.drf.IAMTokenAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    }

    # views.py
    class InvoiceList(APIView):
        permission_classes = [IsUser & HasPermission("billing.read") | HasScope("invoices.read")]

``request.user`` is a ``PrincipalUser`` (no database row) and ``request.auth`` the ``Principal``.
The verifier is built from ``settings.IAM_CLIENT`` on first use, shared by the process, and
rebuilt when the setting changes (``override_settings`` in tests).
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Self

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission, OperationHolderMixin
from rest_framework.request import Request

from iam_client.errors import JWKSUnavailable, TokenError
from iam_client.principal import Principal
from iam_client.verifier import Verifier

__all__ = [
    "HasPermission",
    "HasRole",
    "HasScope",
    "IAMTokenAuthentication",
    "IAMUnavailable",
    "IsService",
    "IsUser",
    "PrincipalUser",
    "get_verifier",
    "principal_of",
    "set_verifier",
]

SETTING = "IAM_CLIENT"
# setting key -> Verifier keyword
_OPTIONS = {
    "JWKS_URL": "jwks_url",
    "LEEWAY": "leeway",
    "JWKS_MAX_AGE": "jwks_max_age",
    "MIN_REFETCH_INTERVAL": "min_refetch_interval",
    "CACHE_SIZE": "cache_size",
    "HTTP_TIMEOUT": "http_timeout",
    "HTTP_FETCH": "http_fetch",
}

_verifier: Verifier | None = None
_verifier_lock = threading.Lock()


def _build_verifier() -> Verifier:
    config = getattr(settings, SETTING, None)
    if not isinstance(config, dict):
        raise ImproperlyConfigured(f'Set {SETTING} = {{"ISSUER": ..., "AUDIENCE": ...}}.')
    unknown = config.keys() - _OPTIONS.keys() - {"ISSUER", "AUDIENCE"}
    if unknown:
        raise ImproperlyConfigured(f"Unknown {SETTING} keys: {', '.join(sorted(unknown))}.")
    if not config.get("ISSUER") or not config.get("AUDIENCE"):
        raise ImproperlyConfigured(f"{SETTING} needs ISSUER and AUDIENCE.")
    kwargs: dict[str, Any] = {
        keyword: config[key] for key, keyword in _OPTIONS.items() if config.get(key) is not None
    }
    if isinstance(kwargs.get("http_fetch"), str):
        kwargs["http_fetch"] = import_string(kwargs["http_fetch"])
    try:
        return Verifier(config["ISSUER"], config["AUDIENCE"], **kwargs)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{SETTING}: {exc}") from exc


def get_verifier() -> Verifier:
    """The process-wide verifier, built from ``settings.IAM_CLIENT`` on first use."""
    global _verifier
    verifier = _verifier
    if verifier is None:
        with _verifier_lock:
            if _verifier is None:
                _verifier = _build_verifier()
            verifier = _verifier
    return verifier


def set_verifier(verifier: Verifier | None) -> None:
    """Use ``verifier`` process-wide (None: build it from the settings again on next use)."""
    global _verifier
    with _verifier_lock:
        _verifier = verifier


@receiver(setting_changed)
def _reset_on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        set_verifier(None)


class IAMUnavailable(exceptions.APIException):
    """The issuer's keys could not be fetched: a server-side problem, not a bad token."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Token verification is temporarily unavailable."
    default_code = JWKSUnavailable.code


class PrincipalUser:
    """``request.user`` for a verified token: authenticated, no database row.

    ``pk``/``id`` are the token's ``sub`` (the user's UUID, or the client id of a service).
    ``is_staff``/``is_superuser`` are always False and ``has_perm`` always refuses: the IAM's
    ``is_staff`` claim means "operates the IAM", not "administers this service", so it must not
    open Django/DRF admin checks here. Authorise with the permission classes below instead.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.pk = self.id = principal.subject

    @property
    def username(self) -> str:
        return self.principal.email or self.principal.subject

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False

    def has_perms(self, perm_list: object, obj: object = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"<PrincipalUser {self.principal.kind} {self.pk}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrincipalUser) and other.pk == self.pk

    def __hash__(self) -> int:
        return hash(self.pk)


class IAMTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <IAM access token>``.

    No header, or another scheme: ``None`` (the next authentication class may try). A bearer
    token that does not verify: 401 with the ``TokenError`` code. Keys unavailable: 503.
    """

    keyword = "Bearer"
    www_authenticate_realm = "api"

    def get_verifier(self) -> Verifier:
        return get_verifier()

    def authenticate(self, request: Request) -> tuple[PrincipalUser, Principal] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        token = token.strip()
        if not token or " " in token:
            raise exceptions.AuthenticationFailed("Malformed bearer credentials.", "token_invalid")
        try:
            principal = self.get_verifier().verify(token)
        except JWKSUnavailable as exc:
            raise IAMUnavailable() from exc
        except TokenError as exc:
            raise exceptions.AuthenticationFailed(exc.detail, exc.code) from exc
        return PrincipalUser(principal), principal

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="{self.www_authenticate_realm}"'


def principal_of(request: Request) -> Principal | None:
    """The verified principal of a DRF request, if it was authenticated by an IAM token."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, Principal):
        return auth
    principal = getattr(getattr(request, "user", None), "principal", None)
    return principal if isinstance(principal, Principal) else None


class PrincipalPermission(OperationHolderMixin, BasePermission):
    """Base of the permission classes: refuses requests without an IAM principal.

    Instances can go in ``permission_classes`` (DRF "instantiates" them by calling them, which
    returns a copy) and combine with ``&``, ``|`` and ``~`` like DRF's classes.
    """

    message = "You do not have permission to perform this action."
    code = "permission_denied"

    def __call__(self) -> Self:
        return copy.copy(self)

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = principal_of(request)
        return principal is not None and self.allows(principal)

    def allows(self, principal: Principal) -> bool:
        return False


class _Requires(PrincipalPermission):
    def __init__(self, *names: str) -> None:
        if not names or not all(isinstance(name, str) and name for name in names):
            raise TypeError(f"{type(self).__name__} needs at least one name")
        self.names = names

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.names))})"


class HasScope(_Requires):
    """A service token granting **all** of the scopes (user tokens have no scopes)."""

    message = "The token lacks a required scope."
    code = "insufficient_scope"

    def allows(self, principal: Principal) -> bool:
        return principal.has_scopes(*self.names)


class HasPermission(_Requires):
    """A user token whose tenant roles grant **all** of the permissions (``area.action``)."""

    message = "You lack a required permission in this tenant."
    code = "permission_denied"

    def allows(self, principal: Principal) -> bool:
        return principal.has_perms(*self.names)


class HasRole(_Requires):
    """A user token holding **any** of the roles in its tenant. Prefer ``HasPermission``."""

    message = "You lack a required role in this tenant."
    code = "permission_denied"

    def allows(self, principal: Principal) -> bool:
        return principal.has_role(*self.names)


class IsUser(PrincipalPermission):
    """A person's token (not a service's)."""

    message = "Only users may perform this action."

    def allows(self, principal: Principal) -> bool:
        return principal.kind == "user"


class IsService(PrincipalPermission):
    """A service's client-credentials token."""

    message = "Only services may perform this action."

    def allows(self, principal: Principal) -> bool:
        return principal.kind == "service"
