"""Reads of linked identities and pending links."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.utils import timezone

from iam.core.crypto import sha256_hex
from iam.social.models import SocialIdentity, SocialLink
from iam.social.providers import providers


def identity_get(*, provider: str, subject: str) -> SocialIdentity | None:
    return (
        SocialIdentity.objects.select_related("user")
        .filter(provider=provider, subject=subject)
        .first()
    )


def identities_of(*, user_id: uuid.UUID | str) -> QuerySet[SocialIdentity]:
    return SocialIdentity.objects.filter(user_id=user_id).order_by("created_at", "id")


def sign_in_methods_other_than(
    *, user_id: uuid.UUID | str, has_password: bool, identity_id: uuid.UUID | str | None
) -> int:
    """How many ways to sign in the account keeps without ``identity_id``: its password, and
    its identities of providers that are enabled now."""
    enabled = [p.name for p in providers()]
    others = identities_of(user_id=user_id).filter(provider__in=enabled)
    if identity_id is not None:
        others = others.exclude(pk=identity_id)
    return int(has_password) + others.count()


def link_get(*, token: str | None) -> SocialLink | None:
    """The live pending link a token names (not used, not expired), if any."""
    if not token or len(token) > 256:
        return None
    link = SocialLink.objects.filter(digest=sha256_hex(token)).first()
    if link is None or link.used_at is not None or link.expires_at <= timezone.now():
        return None
    return link
