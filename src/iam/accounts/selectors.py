from __future__ import annotations

from django.db.models import Q

from iam.accounts.models import User


def user_get_by_login(*, identifier: str) -> User | None:
    """The user whose e-mail or username is ``identifier`` (case-insensitive), if any."""
    identifier = identifier.strip()
    if not identifier or "\x00" in identifier or not identifier.isprintable():
        return None  # no account has such a name, and databases refuse NULs and lone surrogates
    lookup = Q(email__iexact=identifier) if "@" in identifier else Q(username__iexact=identifier)
    return User.objects.filter(lookup).first()


def user_get_by_email(*, email: str) -> User | None:
    """The account whose address is ``email`` (case-insensitive), if any."""
    email = email.strip()
    if not email or "\x00" in email or not email.isprintable():
        return None
    return User.objects.filter(email__iexact=email).first()


def email_taken(*, email: str, exclude: User | None = None) -> bool:
    """Whether another account already uses ``email`` (case-insensitive)."""
    others = User.objects.filter(email__iexact=email.strip())
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    return others.exists()
