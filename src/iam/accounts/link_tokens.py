"""The tokens in e-mailed links: e-mail verification, e-mail change, password reset.

Nothing is stored. A token is signed (``django.core.signing``, keyed by ``SECRET_KEY`` and
rotated with ``SECRET_KEY_FALLBACKS``) and carries the user id, its purpose, when it was made and
a fingerprint of the account state it acts on. Using the token changes that state (the address
becomes verified, the password changes), and so do the events that must kill it (a new password,
a new address, a newer pending address, deactivation), so a token works once and only while the
account is as it was when the mail was sent:

- ``verify_email``: the address, whether it is verified, and the password hash;
- ``email_change``: the address, the pending new address, and the password hash;
- ``password_reset``: the password hash and the address.

Because tokens are made when the mail is built (in the mail task), no token is ever stored in the
database or the task queue.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare, salted_hmac

from iam.accounts.models import User
from iam.core.conf import iam_settings
from iam.core.exceptions import AccountTokenExpired, AccountTokenInvalid, AccountTokenUsed

_SALT = "iam.accounts.link_token"
_FINGERPRINT_LENGTH = 24


class LinkPurpose(StrEnum):
    VERIFY_EMAIL = "v"
    EMAIL_CHANGE = "c"
    PASSWORD_RESET = "r"  # noqa: S105 (a purpose tag)


def _state(user: User, purpose: LinkPurpose) -> str:
    email = user.email.casefold()
    if purpose is LinkPurpose.VERIFY_EMAIL:
        # bound to the password too: a link verifies the account only with the password of the
        # registration that sent it (see ``user_register`` on addresses registered twice)
        return f"{email}|{user.email_verified}|{user.password}|{user.is_active}"
    if purpose is LinkPurpose.EMAIL_CHANGE:
        # a password change or reset (someone recovering the account) kills a pending change
        return f"{email}|{user.pending_email.casefold()}|{user.password}|{user.is_active}"
    return f"{user.password}|{email}|{user.is_active}"


def _fingerprint(user: User, purpose: LinkPurpose, secret: str | None = None) -> str:
    digest = salted_hmac(
        f"{_SALT}.state",
        f"{purpose}|{user.pk}|{_state(user, purpose)}",
        secret=secret,
        algorithm="sha256",
    )
    return digest.hexdigest()[:_FINGERPRINT_LENGTH]


def _fingerprint_matches(fingerprint: str, user: User, purpose: LinkPurpose) -> bool:
    """Against the current key and every ``SECRET_KEY_FALLBACKS`` key (links survive a rotation
    of ``SECRET_KEY`` for as long as the old key is listed as a fallback)."""
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return any(
        constant_time_compare(fingerprint, _fingerprint(user, purpose, secret))
        for secret in secrets
    )


def _max_age(purpose: LinkPurpose) -> timedelta:
    if purpose is LinkPurpose.PASSWORD_RESET:
        return iam_settings.password_reset_ttl
    return iam_settings.email_verification_ttl


def link_token_make(*, user: User, purpose: LinkPurpose) -> str:
    """A token for ``purpose`` bound to the user's current state."""
    payload = [user.pk.hex, purpose.value, _fingerprint(user, purpose)]
    return signing.dumps(payload, salt=_SALT, compress=False)


def link_token_check(
    *, token: str, purposes: tuple[LinkPurpose, ...], lock: bool = False
) -> tuple[User, LinkPurpose]:
    """The user and purpose of a token, or the reason it is refused:

    ``AccountTokenInvalid`` (malformed, forged, another purpose, unknown user),
    ``AccountTokenExpired`` (older than its purpose allows), ``AccountTokenUsed`` (the account
    changed since: already used, superseded, or the password/address changed).

    ``lock=True`` (inside a transaction) locks the user row, so that of two concurrent uses of one
    token the second sees the first's change and is refused.
    """
    try:
        # The longest lifetime first; the purpose's own is checked below.
        longest = max(_max_age(p) for p in LinkPurpose)
        payload = signing.loads(token, salt=_SALT, max_age=longest)
    except signing.SignatureExpired as exc:
        raise AccountTokenExpired() from exc
    except (signing.BadSignature, ValueError, UnicodeError) as exc:
        raise AccountTokenInvalid() from exc
    try:
        user_hex, purpose_value, fingerprint = payload
        purpose = LinkPurpose(purpose_value)
        if not isinstance(user_hex, str) or not isinstance(fingerprint, str):
            raise TypeError(payload)
        users = User.objects.select_for_update() if lock else User.objects
        user = users.get(pk=user_hex)
    except (TypeError, ValueError, ValidationError, User.DoesNotExist) as exc:
        raise AccountTokenInvalid() from exc
    if purpose not in purposes:
        raise AccountTokenInvalid()
    try:
        signing.loads(token, salt=_SALT, max_age=_max_age(purpose))
    except signing.SignatureExpired as exc:
        raise AccountTokenExpired() from exc
    if not _fingerprint_matches(fingerprint, user, purpose):
        raise AccountTokenUsed()
    return user, purpose
