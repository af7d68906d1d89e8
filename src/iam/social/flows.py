"""Social sign-in use cases: begin (to the provider), complete (the provider's answer, checked
by social-core, reduced to a ``ProviderIdentity`` by the pipeline), the ID token of an app, and
what an identity means for accounts (sign in, create, link, or ask the owner).

Account decisions, in order (docs/api.md, "Social sign-in"):

1. an identity linked to an account signs in to that account (inactive: refused);
2. otherwise the provider must give an address and vouch for it (verified);
3. no account has the address: a new account (address verified, no usable password);
4. an account has it: linked automatically only when the provider has ``auto_link`` on and the
   account's address is verified too; otherwise a pending link the owner confirms after signing
   in to the account. Never a silent link by e-mail.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from social_core.exceptions import SocialAuthBaseException

from iam.accounts.models import User
from iam.accounts.selectors import user_get_by_email
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.authn.flows import login_with_identity
from iam.core.conf import iam_settings
from iam.core.exceptions import (
    IAMError,
    IdTokenInvalid,
    InvalidCredentials,
    ProviderError,
    ProviderNotFound,
    ReauthenticationRequired,
    SocialAccountDisabled,
    SocialEmailMissing,
    SocialEmailNotVerified,
    SocialIdentityInUse,
)
from iam.core.identifiers import same_address
from iam.mfa.challenge import MfaChallengeStarted
from iam.sessions.models import DeviceSession, Transport
from iam.sessions.services import ClientInfo, IssuedTokens
from iam.social.errors import social_error, social_reason
from iam.social.models import SocialIdentity
from iam.social.pipeline import ProviderIdentity
from iam.social.providers import ProviderConfig, provider_get
from iam.social.selectors import identity_get
from iam.social.services import (
    id_token_use,
    identity_link,
    identity_used,
    link_request_create,
    social_refusal_record,
    social_state_cleanup,
)
from iam.social.strategy import IamStrategy
from iam.tenancy.context import TenantRef

SESSION_KEY = "iam_social"  # {state: SignInContext as a dict}, in the browser's Django session
MAX_PENDING = 10  # sign-ins under way per browser


@dataclass(frozen=True, slots=True)
class LinkRequired:
    """The identity's address belongs to an account it is not linked to."""

    token: str
    provider: str
    email: str


@dataclass(slots=True)
class SignInContext:
    """What the begin request asked for, kept with the state until the callback."""

    intent: str = "login"  # login | connect
    next: str | None = None
    transport: str = Transport.COOKIE
    tenant_slug: str | None = None
    tenant_id: str | None = None
    tenant_slug_requested: str | None = None
    tenant_asked: bool = False
    user_id: str | None = None  # connect: who started it
    session_id: str | None = None
    at: int = field(default_factory=lambda: int(time.time()))

    def tenant_requested(self) -> TenantRef | None:
        if self.tenant_id is None:
            return None
        return TenantRef(id=uuid.UUID(self.tenant_id), slug=self.tenant_slug_requested or "")


def provider_required(name: str, *, id_tokens: bool = False) -> ProviderConfig:
    provider = provider_get(name)
    if provider is None or (id_tokens and not provider.has_id_tokens):
        raise ProviderNotFound()
    return provider


def _strategy(request: HttpRequest, provider: ProviderConfig) -> IamStrategy:
    return IamStrategy(request=request, provider=provider)


# --- browser flow ---------------------------------------------------------------------------


def social_begin(*, request: HttpRequest, provider: ProviderConfig, context: SignInContext) -> str:
    """The provider's authorization URL, with state (kept in this browser's session, with
    ``context``), nonce and PKCE."""
    social_state_cleanup()
    backend = _strategy(request, provider).backend()
    try:
        url = backend.auth_url()
    except SocialAuthBaseException as exc:
        raise social_error(exc) from exc
    state = parse_qs(urlsplit(url).query).get("state", [""])[0]
    pending: dict[str, Any] = dict(request.session.get(SESSION_KEY) or {})
    horizon = time.time() - iam_settings_state_ttl()
    pending = {k: v for k, v in pending.items() if isinstance(v, dict) and v.get("at", 0) > horizon}
    while len(pending) >= MAX_PENDING:
        pending.pop(min(pending, key=lambda k: pending[k].get("at", 0)))
    pending[state] = {name: getattr(context, name) for name in SignInContext.__slots__}
    request.session[SESSION_KEY] = pending
    if request.session.get("_auth_user_id") is None:
        request.session.set_expiry(iam_settings_state_ttl())  # an anonymous session: short
    return url


def iam_settings_state_ttl() -> int:
    return int(iam_settings.social_state_ttl.total_seconds())


def callback_context(request: HttpRequest) -> SignInContext | None:
    """The begin request's context for the callback's ``state``, taken out of the session
    (whether or not the state turns out valid: each works once)."""
    state = request.GET.get("state")
    pending: dict[str, Any] = dict(request.session.get(SESSION_KEY) or {})
    if not state or not isinstance(state, str) or state not in pending:
        return None
    raw = pending.pop(state)
    request.session[SESSION_KEY] = pending
    try:
        return SignInContext(**{k: raw[k] for k in SignInContext.__slots__ if k in raw})
    except TypeError:
        return None


def social_complete(*, request: HttpRequest, provider: ProviderConfig) -> ProviderIdentity:
    """Check the provider's answer (state of this browser, the code exchanged once with the
    PKCE verifier, the ID token and UserInfo) and reduce it to the identity it vouches for."""
    backend = _strategy(request, provider).backend()
    try:
        result = backend.complete()
    except SocialAuthBaseException as exc:
        raise SocialFailure(social_error(exc), social_reason(exc)) from exc
    if not isinstance(result, ProviderIdentity):  # the pipeline always ends in one
        raise SocialFailure(IdTokenInvalid(), "pipeline")
    return result


class SocialFailure(Exception):
    """A failed provider exchange: the domain error, and social-core's reason for the audit."""

    def __init__(self, error: IAMError, reason: str) -> None:
        super().__init__(error.code)
        self.error = error
        self.reason = reason


# --- apps: the provider's ID token ----------------------------------------------------------


def social_id_token_identity(
    *, request: HttpRequest, provider: ProviderConfig, id_token: str, nonce: str | None
) -> ProviderIdentity:
    """Check an ID token an app got from the provider with the browser flow's rules (JWKS
    signature, RS256, ``iss``, ``aud`` = our client id, ``azp``, ``exp``, ``iat`` age, ``nbf``),
    the app's ``nonce`` when given, and single use; then the same pipeline as the browser."""
    backend = _strategy(request, provider).backend()
    backend.VALIDATE_AT_HASH = False  # no access token comes with it
    try:
        claims = backend.decode_and_validate_id_token(id_token, None)
        backend.validate_required_id_token_claims(claims)
        backend.validate_temporal_claims(claims)
    except SocialAuthBaseException as exc:
        raise SocialFailure(social_error(exc), social_reason(exc)) from exc
    if nonce is not None and not constant_time_compare(str(claims.get("nonce", "")), nonce):
        raise SocialFailure(IdTokenInvalid(), "nonce_mismatch")
    if not isinstance(claims.get("exp"), int) or not id_token_use(
        provider=provider.name, id_token=id_token, expires=claims["exp"]
    ):
        raise SocialFailure(IdTokenInvalid(), "replayed")
    backend.id_token = claims
    try:
        result = backend.strategy.authenticate(backend, response=dict(claims))
    except SocialAuthBaseException as exc:
        raise SocialFailure(social_error(exc), social_reason(exc)) from exc
    if not isinstance(result, ProviderIdentity):
        raise SocialFailure(IdTokenInvalid(), "pipeline")
    return result


# --- what an identity means for accounts -----------------------------------------------------


def _refuse(
    error: IAMError, *, identity: ProviderIdentity, client: ClientInfo, user: User | None = None
) -> IAMError:
    social_refusal_record(
        provider=identity.provider,
        reason=error.code,
        client=client,
        user_id=user.pk if user else None,
    )
    return error


def _user_create(*, identity: ProviderIdentity, client: ClientInfo) -> User | None:
    """A new account for a verified address nobody has (None if a concurrent request took the
    address or linked the identity meanwhile: nothing was created)."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=identity.email, password=None, email_verified=True, name=identity.name
            )
            audit_record(
                event=AuditEventType.USER_REGISTERED,
                client=client,
                user_id=user.pk,
                data={"method": "social", "provider": identity.provider},
            )
            identity_link(user=user, identity=identity, method="signup", client=client)
    # the address is taken (in any spelling: the model's uniqueness check raises ValidationError
    # before the database's constraint would), or the identity was linked meanwhile
    except (ValidationError, IntegrityError, SocialIdentityInUse):
        return None
    return user


def _existing_account(
    *, user: User, identity: ProviderIdentity, provider: ProviderConfig, client: ClientInfo
) -> LinkRequired | None:
    """An account has the identity's (verified) address: linked here only when the provider may
    auto-link, the account verified the address too and the provider's address is the account's
    as written (``same_address``: the key that found the account also matches look-alikes of
    it); otherwise its owner is asked (a pending link). None when it was linked."""
    if (
        provider.auto_link
        and user.email_verified
        and user.is_active
        and same_address(identity.email, user.email)
    ):
        identity_link(user=user, identity=identity, method="auto", client=client)
        return None
    if not user.is_active:
        raise _refuse(SocialAccountDisabled(), identity=identity, client=client, user=user)
    token = link_request_create(user=user, identity=identity, client=client)
    return LinkRequired(token=token, provider=identity.provider, email=identity.email)


def social_sign_in(
    *,
    identity: ProviderIdentity,
    provider: ProviderConfig,
    transport: Transport,
    client: ClientInfo,
    tenant_slug: str | None = None,
    tenant_requested: TenantRef | None = None,
    tenant_asked: bool = False,
) -> IssuedTokens | MfaChallengeStarted | LinkRequired:
    """Sign in with a checked identity: see the module's docstring for the decisions."""
    row = identity_get(provider=identity.provider, subject=identity.subject)
    if row is not None:
        user = row.user
        identity_used(row=row, identity=identity)
    else:
        if not identity.email:
            raise _refuse(SocialEmailMissing(), identity=identity, client=client)
        if not identity.email_verified:
            raise _refuse(SocialEmailNotVerified(), identity=identity, client=client)
        existing = user_get_by_email(email=identity.email)
        created = None if existing is not None else _user_create(identity=identity, client=client)
        if created is not None:
            user = created
        else:
            # an account has the address (perhaps registered a moment ago), or a concurrent
            # first sign-in with this identity made one: never a sign-in without a link
            row = identity_get(provider=identity.provider, subject=identity.subject)
            existing = existing or user_get_by_email(email=identity.email)
            if row is not None:
                user = row.user
            elif existing is None:
                raise _refuse(ProviderError(), identity=identity, client=client)
            else:
                pending = _existing_account(
                    user=existing, identity=identity, provider=provider, client=client
                )
                if pending is not None:
                    return pending
                user = existing
    try:
        return login_with_identity(
            user=user,
            provider=identity.provider,
            transport=transport,
            client=client,
            tenant_slug=tenant_slug,
            tenant_requested=tenant_requested,
            tenant_asked=tenant_asked,
        )
    except InvalidCredentials:  # deactivated
        raise _refuse(
            SocialAccountDisabled(), identity=identity, client=client, user=user
        ) from None


def social_connect(
    *, identity: ProviderIdentity, context: SignInContext, client: ClientInfo
) -> SocialIdentity:
    """Link the identity to the account whose session started the connect, if that session is
    still live (the callback is a plain navigation: it may carry no credentials at all)."""
    session = (
        DeviceSession.objects.select_related("user")
        .filter(pk=context.session_id, user_id=context.user_id)
        .first()
        if context.session_id and context.user_id
        else None
    )
    live = (
        session is not None
        and session.revoked_at is None
        and session.expires_at > timezone.now()
        and session.user.is_active
    )
    if not live:
        raise _refuse(ReauthenticationRequired(), identity=identity, client=client)
    try:
        return identity_link(
            user=session.user,  # type: ignore[union-attr]
            identity=identity,
            method="connect",
            client=client,
            session_id=session.pk,  # type: ignore[union-attr]
        )
    except IAMError as error:
        raise _refuse(error, identity=identity, client=client, user=session.user) from None  # type: ignore[union-attr]
