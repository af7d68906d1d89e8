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
