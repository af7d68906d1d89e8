from __future__ import annotations

import uuid

from django.db import DEFAULT_DB_ALIAS

from iam.accounts.models import User
from iam.core.identifiers import identifier_fold, identifier_key
from iam.core.sql import PreparedQuery

_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]


def _user_by(field: str) -> PreparedQuery:
    return PreparedQuery(
        lambda *, key: (
            User.objects.filter(**{field: key}).order_by("pk").values_list(*_USER_FIELDS)[:1]
        ),
        key=identifier_key(f"example-{uuid.uuid4().hex}"),
    )


# every sign-in asks one of these first: built and compiled once per process, then only run
_BY_EMAIL, _BY_USERNAME = _user_by("email_key"), _user_by("username_key")


def user_get_by_login(*, identifier: str) -> User | None:
    """The user whose e-mail address (``identifier`` has an ``@`` once folded) or username is
    ``identifier``, compared by their keys (``iam.core.identifiers``), if any."""
    identifier = identifier.strip()
    if not identifier:
        return None
    # an address once folded (a full-width or small "@" is an "@"), as registration stored it;
    # any text has a key (NULs, lone surrogates: it is a digest the database never parses)
    query = _BY_EMAIL if "@" in identifier_fold(identifier) else _BY_USERNAME
    row = query.first(key=identifier_key(identifier))
    return User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, row) if row is not None else None


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
