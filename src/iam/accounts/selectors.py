from __future__ import annotations

import uuid

from django.db import DEFAULT_DB_ALIAS

from iam.accounts.models import User
from iam.core.sql import PreparedQuery

_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]


def _user_by(lookup: str) -> PreparedQuery:
    return PreparedQuery(
        lambda *, identifier: (
            User.objects.filter(**{lookup: identifier})
            .order_by("pk")
            .values_list(*_USER_FIELDS)[:1]
        ),
        identifier=f"example-{uuid.uuid4().hex}",
    )


# every sign-in asks one of these first: built and compiled once per process, then only run
_BY_EMAIL, _BY_USERNAME = _user_by("email__iexact"), _user_by("username__iexact")


def user_get_by_login(*, identifier: str) -> User | None:
    """The user whose e-mail or username is ``identifier`` (case-insensitive), if any."""
    identifier = identifier.strip()
    if not identifier or "\x00" in identifier or not identifier.isprintable():
        return None  # no account has such a name, and databases refuse NULs and lone surrogates
    query = _BY_EMAIL if "@" in identifier else _BY_USERNAME
    row = query.first(identifier=identifier)
    return User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, row) if row is not None else None


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
