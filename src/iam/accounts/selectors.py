from __future__ import annotations

from iam.accounts.models import User
from iam.core.identifiers import identifier_key


def _usable(identifier: str) -> bool:
    # no account has such a name, and databases refuse NULs and lone surrogates
    return bool(identifier) and "\x00" not in identifier and identifier.isprintable()


def user_get_by_login(*, identifier: str) -> User | None:
    """The user whose e-mail address (``identifier`` has an ``@``) or username is
    ``identifier``, compared by their keys (``iam.core.identifiers``), if any."""
    identifier = identifier.strip()
    if not _usable(identifier):
        return None
    key = identifier_key(identifier)
    lookup = {"email_key": key} if "@" in identifier else {"username_key": key}
    return User.objects.filter(**lookup).first()


def user_get_by_email(*, email: str) -> User | None:
    """The account whose address is ``email`` (compared by key), if any."""
    email = email.strip()
    if not _usable(email):
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
