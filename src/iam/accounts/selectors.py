from __future__ import annotations

from iam.accounts.models import User
from iam.core.identifiers import identifier_fold, identifier_key


def user_get_by_login(*, identifier: str) -> User | None:
    """The user whose e-mail address (``identifier`` has an ``@`` once folded) or username is
    ``identifier``, compared by their keys (``iam.core.identifiers``), if any."""
    identifier = identifier.strip()
    if not identifier:
        return None
    # an address once folded (a full-width or small "@" is an "@"), as registration stored it
    field = "email_key" if "@" in identifier_fold(identifier) else "username_key"
    # any text has a key (NULs, lone surrogates: it is a digest the database never parses)
    return User.objects.filter(**{field: identifier_key(identifier)}).first()


def user_get_by_email(*, email: str) -> User | None:
    """The account whose address is ``email`` (compared by key), if any."""
    email = email.strip()
    if not email:
        return None
    return User.objects.filter(email_key=identifier_key(email)).first()


def email_taken(*, email: str, exclude: User | None = None) -> bool:
    """Whether another account already uses ``email`` (compared by key)."""
    others = User.objects.filter(email_key=identifier_key(email))
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    return others.exists()


def username_taken(*, username: str, exclude: User | None = None) -> bool:
    """Whether another account already uses ``username`` (compared by key)."""
    others = User.objects.filter(username_key=identifier_key(username))
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    return others.exists()
