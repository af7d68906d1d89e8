"""Service clients and the OAuth 2.0 endpoints' decisions: client authentication, the
client-credentials grant (RFC 6749 §4.4), introspection (RFC 7662) and revocation (RFC 7009).

Errors are ``OAuthError`` with the RFC's ``error`` codes; the API renders them as the RFC asks.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework_simplejwt.exceptions import TokenError

from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.broadcasts import broadcasts_deferred
from iam.core.crypto import sha256_hex
from iam.core.exceptions import IAMError
from iam.core.http import ClientInfo
from iam.oauth.models import ServiceClient
from iam.sessions.auth_state import session_user_for_access
from iam.sessions.models import DeviceSession, RevokeReason
from iam.sessions.services import session_revoke
from iam.tenancy.models import Membership, Tenant
from iam.tokens.tokens import RefreshToken, ServiceAccessToken
from iam.tokens.verification import access_token_validate

CLIENT_ID_PREFIX = "svc_"
_SCOPE_CHARS = set(
    "!#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"
)  # fmt: skip  (RFC 6749 §3.3 NQCHAR)


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``error`` code, description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True, slots=True)
class IssuedServiceToken:
    access_token: str
    expires_in: int
    scope: str
    audience: str


def _hash(secret: str) -> str:
    return sha256_hex(secret)


def service_client_secret_new() -> tuple[str, str]:
    """``(secret, its stored hash)``: 256 random bits."""
    secret = secrets.token_urlsafe(32)
    return secret, _hash(secret)


def service_client_id_new() -> str:
    return CLIENT_ID_PREFIX + secrets.token_hex(12)


def service_client_create(
    *,
    name: str,
    audiences: list[str],
    scopes: list[str] | None = None,
    tenant: Tenant | None = None,
    can_introspect: bool = False,
) -> tuple[ServiceClient, str]:
    """A new client and its secret (shown once; only its hash is kept)."""
    secret, secret_hash = service_client_secret_new()
    client = ServiceClient.objects.create(
        client_id=service_client_id_new(),
        name=name,
        secret_hash=secret_hash,
        allowed_audiences=sorted(set(audiences)),
        allowed_scopes=sorted(set(scopes or [])),
        tenant=tenant,
        can_introspect=can_introspect,
    )
    audit_record(event=AuditEventType.SERVICE_CLIENT_CREATED, data={"client_id": client.client_id})
    return client, secret


def service_client_rotate_secret(*, client: ServiceClient) -> str:
    """A new secret; the old one stops working at once."""
    secret, client.secret_hash = service_client_secret_new()
    client.secret_rotated_at = timezone.now()
    client.save(update_fields=["secret_hash", "secret_rotated_at"])
    audit_record(
        event=AuditEventType.SERVICE_CLIENT_SECRET_ROTATED, data={"client_id": client.client_id}
    )
    return secret


_DUMMY_HASH = _hash("no such client")


def client_authenticate(*, client_id: str, secret: str, info: ClientInfo) -> ServiceClient:
    """The active client with these credentials, else ``invalid_client`` (401). Unknown ids cost
    the same comparison as known ones."""
    client = None
    if 0 < len(client_id) <= 64 and client_id.isprintable():
        client = ServiceClient.objects.select_related("tenant").filter(client_id=client_id).first()
    expected = client.secret_hash if client is not None else _DUMMY_HASH
    matches = constant_time_compare(_hash(secret), expected)
    if client is None or not matches or not client.is_active:
        audit_record(
            event=AuditEventType.SERVICE_CLIENT_AUTH_FAILED,
            client=info,
            data={"client_id": client_id[:64] if client_id.isprintable() else "?"},
        )
        raise OAuthError("invalid_client", "Client authentication failed.", status=401)
    return client


def _scopes(raw: str | None) -> list[str]:
    if raw is None or not raw.strip(" "):
        return []
    parts = raw.split(" ")
    if any(not part or not set(part) <= _SCOPE_CHARS for part in parts):
        raise OAuthError("invalid_scope", "The scope is malformed.")
    return parts


def service_token_issue(
    *, client: ServiceClient, audience: str | None, scope: str | None, info: ClientInfo
) -> IssuedServiceToken:
    """A client-credentials access token for ``audience`` with the asked-for scopes (all the
    client's scopes when none are asked for). No refresh token: ask again when it expires."""
    allowed_audiences = list(client.allowed_audiences or [])
    if not allowed_audiences:
        raise OAuthError("unauthorized_client", "This client may not obtain tokens.")
    if audience is None:
        if len(allowed_audiences) != 1:
            raise OAuthError("invalid_request", "Give the audience the token is for.")
        audience = allowed_audiences[0]
    if audience not in allowed_audiences:
        raise OAuthError("invalid_target", "The client may not obtain tokens for this audience.")
    asked = _scopes(scope)
    allowed_scopes = set(client.allowed_scopes or [])
    if not set(asked) <= allowed_scopes:
        raise OAuthError("invalid_scope", "The client may not obtain these scopes.")
    granted = " ".join(sorted(set(asked) if asked else allowed_scopes))
    token = ServiceAccessToken(audience=audience)
    token["sub"] = client.client_id
    token["client_id"] = client.client_id
    token["scope"] = granted
    if client.tenant is not None and client.tenant.is_active:
        token["tid"] = str(client.tenant_id)
        token["tenant"] = client.tenant.slug
    raw = str(token)
    audit_record(
        event=AuditEventType.SERVICE_TOKEN_ISSUED,
        client=info,
        data={"client_id": client.client_id, "aud": audience, "scope": granted},
    )
    return IssuedServiceToken(
        access_token=raw,
        expires_in=int(token.lifetime.total_seconds()),
        scope=granted,
        audience=audience,
    )


INACTIVE: dict[str, Any] = {"active": False}
_STANDARD = ("iss", "aud", "sub", "exp", "iat", "jti")


def _user_access(raw: str) -> dict[str, Any] | None:
    try:
        token = access_token_validate(raw)
        user = session_user_for_access(token=token)
    except IAMError:
        return None
    if (
        "tid" in token
        and not Membership.objects.filter(
            user_id=user.pk, tenant_id=token["tid"], tenant__is_active=True
        ).exists()
    ):
        return None  # removed from the tenant, or the tenant was deactivated
    claims = {name: token[name] for name in _STANDARD}
    extra = {k: token[k] for k in ("sid", "tid", "tenant", "roles", "perms") if k in token}
    return {
        "active": True,
        "token_type": "access_token",
        "username": user.email,
        **claims,
        **extra,
    }


def _service_access(raw: str) -> dict[str, Any] | None:
    try:
        token = ServiceAccessToken(raw, audience=None)
    except TokenError:
        return None
    client_id = token.get("client_id")
    if not isinstance(client_id, str) or "sid" in token:
        return None
    if not ServiceClient.objects.filter(client_id=client_id, is_active=True).exists():
        return None  # a deactivated client's tokens are inactive at once
    body = {"active": True, "token_type": "access_token", "client_id": client_id}
    body.update({name: token[name] for name in _STANDARD})
    body["scope"] = token.get("scope", "")
    body.update({k: token[k] for k in ("tid", "tenant") if k in token})
    return body


def _refresh(raw: str) -> tuple[RefreshToken, DeviceSession] | None:
    try:
        token = RefreshToken(raw)
        session = DeviceSession.objects.select_related("user").get(pk=uuid.UUID(token["sid"]))
    except (TokenError, KeyError, ValueError, TypeError, DeviceSession.DoesNotExist):
        return None
    if str(session.user_id) != token["sub"]:
        return None
    return token, session


def token_introspect(*, raw: str, hint: str | None = None) -> dict[str, Any]:
    """RFC 7662: ``{"active": true, ...claims}`` for a token the IAM would accept right now (a
    user access token of a live session, the current refresh token of a live session, or a
    service token of an active client), else ``{"active": false}`` and nothing else."""
    if not raw or len(raw) > 8192:
        return INACTIVE
    order = [_refresh_body, _user_access, _service_access]
    if hint != "refresh_token":
        order = [_user_access, _service_access, _refresh_body]
    for check in order:
        body = check(raw)
        if body is not None:
            return body
    return INACTIVE


def _refresh_body(raw: str) -> dict[str, Any] | None:
    found = _refresh(raw)
    if found is None:
        return None
    token, session = found
    now = timezone.now()
    live = (
        session.revoked_at is None
        and session.expires_at > now
        and token["jti"] == session.refresh_jti
        and session.user.is_active
    )
    if not live:
        return None
    body = {name: token[name] for name in _STANDARD}
    return {
        "active": True,
        "token_type": "refresh_token",
        "username": session.user.email,
        "sid": str(session.pk),
        **body,
    }


def token_revoke(*, raw: str, client: ServiceClient, info: ClientInfo) -> None:
    """RFC 7009: end the session of a refresh (or user access) token. Unknown, invalid or
    already revoked tokens are not an error (the answer is the same)."""
    found = _refresh(raw)
    session = found[1] if found else None
    if session is None:
        try:
            access = access_token_validate(raw)
        except IAMError:
            return
        session = DeviceSession.objects.filter(pk=access["sid"], user_id=access["sub"]).first()
        if session is None:
            return
    # The revocation and its event commit even if Redis cannot be told (then 503 afterwards).
    with broadcasts_deferred(), transaction.atomic():
        changed = session_revoke(session=session, reason=RevokeReason.CLIENT_REVOKED)
        if changed:
            audit_record(
                event=AuditEventType.SESSION_REVOKED,
                user_id=session.user_id,
                session_id=session.pk,
                client=info,
                data={"reason": "oauth_revoke", "client_id": client.client_id},
            )
