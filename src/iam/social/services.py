"""Writes of the social app: identities (link, use, unlink), pending links, refusals. Every
change writes its audit event here."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from iam.accounts.mail import MailKind, security_notice_enqueue
from iam.accounts.models import User
from iam.accounts.services import user_lock
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.conf import iam_settings
from iam.core.crypto import sha256_hex
from iam.core.exceptions import (
    LastSignInMethod,
    NotFound,
    ReauthenticationRequired,
    SocialIdentityInUse,
    SocialLinkInvalid,
    SocialLinkMismatch,
)
from iam.mfa.selectors import mfa_enabled
from iam.sessions.services import ClientInfo
from iam.social.models import SocialAssociation, SocialIdentity, SocialLink, SocialNonce
from iam.social.pipeline import ProviderIdentity
from iam.social.providers import provider_get
from iam.social.selectors import identity_get, link_get, sign_in_methods_other_than


def _audit(
    event: AuditEventType,
    *,
    client: ClientInfo,
    user_id: uuid.UUID | str | None,
    session_id: uuid.UUID | str | None = None,
    **data: object,
) -> None:
    audit_record(event=event, client=client, user_id=user_id, session_id=session_id, data=data)


def social_refusal_record(
    *,
    provider: str,
    reason: str,
    client: ClientInfo,
    user_id: uuid.UUID | str | None = None,
    detail: str | None = None,
) -> None:
    """A refused or failed social sign-in (``reason`` is its error code; ``detail`` what the
    provider library reported, for operators)."""
    data: dict[str, object] = {"provider": provider, "reason": reason}
    if detail:
        data["detail"] = detail
    _audit(AuditEventType.SOCIAL_REFUSED, client=client, user_id=user_id, **data)


def identity_link(
    *,
    user: User,
    identity: ProviderIdentity,
    method: str,
    client: ClientInfo,
    session_id: uuid.UUID | str | None = None,
) -> SocialIdentity:
    """Link ``identity`` to ``user`` (``method``: signup, auto, confirmed, connect). Linked to
    the same user already: returned as it is. Linked to another: ``SocialIdentityInUse``."""
    existing = identity_get(provider=identity.provider, subject=identity.subject)
    if existing is not None:
        if existing.user_id != user.pk:
            raise SocialIdentityInUse()
        return existing
    now = timezone.now()
    try:
        with transaction.atomic():
            row = SocialIdentity.objects.create(
                user=user,
                provider=identity.provider,
                subject=identity.subject,
                email=identity.email,
                email_verified=identity.email_verified,
                last_used_at=now,
            )
            _audit(
                AuditEventType.SOCIAL_LINKED,
                client=client,
                user_id=user.pk,
                session_id=session_id,
                provider=identity.provider,
                method=method,
            )
            if method != "signup":
                security_notice_enqueue(kind=MailKind.SOCIAL_LINKED, user=user)
    except IntegrityError as exc:  # linked by a concurrent request
        existing = identity_get(provider=identity.provider, subject=identity.subject)
        if existing is None or existing.user_id != user.pk:
            raise SocialIdentityInUse() from exc
        return existing
    return row


def identity_used(*, row: SocialIdentity, identity: ProviderIdentity) -> None:
    """A sign-in with a linked identity: remember when, and the address the provider gives now
    (shown in the identity list; never used to match accounts)."""
    SocialIdentity.objects.filter(pk=row.pk).update(
        last_used_at=timezone.now(), email=identity.email, email_verified=identity.email_verified
    )


def identity_unlink(
    *,
    user: User,
    identity_id: uuid.UUID | str,
    client: ClientInfo,
    session_id: uuid.UUID | str | None = None,
) -> None:
    """Remove one of the user's identities, unless it is the last way left to sign in (no usable
    password, no other identity of an enabled provider)."""
    with transaction.atomic():
        user_lock(user_id=user.pk)  # two unlinks at once cannot each leave the other's last
        row = SocialIdentity.objects.filter(pk=identity_id, user_id=user.pk).first()
        if row is None:
            raise NotFound()
        if provider_get(row.provider) is not None and not sign_in_methods_other_than(
            user_id=user.pk,
            has_password=User.objects.get(pk=user.pk).has_usable_password(),
            identity_id=row.pk,
        ):
            raise LastSignInMethod()
        row.delete()
        _audit(
            AuditEventType.SOCIAL_UNLINKED,
            client=client,
            user_id=user.pk,
            session_id=session_id,
            provider=row.provider,
        )
        security_notice_enqueue(kind=MailKind.SOCIAL_UNLINKED, user=user)


def identities_forget(*, user_id: uuid.UUID | str) -> None:
    """Drop the identities and pending links of an account that is being deleted."""
    SocialIdentity.objects.filter(user_id=user_id).delete()
    SocialLink.objects.filter(user_id=user_id).delete()


# --- pending links --------------------------------------------------------------------------


def link_request_create(*, user: User, identity: ProviderIdentity, client: ClientInfo) -> str:
    """An identity asserted the (verified) address of ``user``, to whom it is not linked: a
    pending link the owner may confirm after signing in. Returns its opaque token. The owner's
    security log shows it."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        SocialLink.objects.filter(expires_at__lt=now).delete()
        SocialLink.objects.create(
            digest=sha256_hex(token),
            user=user,
            provider=identity.provider,
            subject=identity.subject,
            email=identity.email,
            created_at=now,
            expires_at=now + iam_settings.social_link_ttl,
        )
        _audit(
            AuditEventType.SOCIAL_LINK_REQUIRED,
            client=client,
            user_id=user.pk,
            provider=identity.provider,
        )
    return token


def link_request_confirm(
    *,
    token: str | None,
    user: User,
    signed_in_at: datetime | None,
    amr: list[str],
    client: ClientInfo,
    session_id: uuid.UUID | str | None,
) -> SocialIdentity:
    """Confirm a pending link from a session of the account it names that signed in after the
    link was asked for, with the second factor when MFA is on: the owner proved the account,
    the browser that holds the link proved the identity. The link works once."""
    with transaction.atomic():
        link = link_get(token=token)
        if link is None:
            raise SocialLinkInvalid()
        link = SocialLink.objects.select_for_update().get(pk=link.pk)
        if link.used_at is not None:
            raise SocialLinkInvalid()
        if link.user_id != user.pk:
            raise SocialLinkMismatch()
        if signed_in_at is None or signed_in_at < link.created_at:
            raise ReauthenticationRequired(
                "Sign in to this account again (after the link was asked for) to confirm it."
            )
        if mfa_enabled(user_id=user.pk) and "otp" not in amr:
            raise ReauthenticationRequired(
                "Sign in again with your second factor to confirm the link."
            )
        if provider_get(link.provider) is None:
            raise SocialLinkInvalid()
        link.used_at = timezone.now()
        link.save(update_fields=["used_at"])
        return identity_link(
            user=user,
            identity=ProviderIdentity(
                provider=link.provider,
                subject=link.subject,
                email=link.email,
                email_verified=True,
                name="",
            ),
            method="confirmed",
            client=client,
            session_id=session_id,
        )


def link_request_cancel(*, token: str | None) -> None:
    link = link_get(token=token)
    if link is not None:
        SocialLink.objects.filter(pk=link.pk).update(used_at=timezone.now())


# --- social-core's one-time values ---------------------------------------------------------


def social_state_cleanup(*, now: datetime | None = None) -> None:
    """Forget states, nonces and ID-token digests that expired (they are refused anyway; this
    keeps the tables small). Called when a sign-in begins."""
    now = now or timezone.now()
    horizon = int(now.timestamp()) - int(iam_settings.social_state_ttl.total_seconds()) - 3600
    SocialNonce.objects.filter(timestamp__lt=horizon).delete()
    SocialAssociation.cleanup_expired(int(now.timestamp()))


def id_token_use(*, provider: str, id_token: str, expires: int) -> bool:
    """Record an ID token given to the token endpoint; False if it was given before.

    Recorded by what its signature covers (header and claims, as encoded): the signature segment
    can be written in more than one way that decodes alike (base64url padding), and each would
    otherwise count as another token."""
    signed = id_token.rsplit(".", 1)[0]
    return bool(
        SocialNonce.use(f"iam.social.id_token.{provider}", int(expires), sha256_hex(signed))
    )
