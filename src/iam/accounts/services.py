"""The account lifecycle: registration, e-mail verification and change, password reset and change,
profile, deletion. Views call these; every change writes its audit event here.

No answer to an anonymous caller depends on whether an address has an account: registration,
resend and reset answer the same and do comparable work either way (a password hash where a new
account would hash one; a queued mail), and the owner of an existing address is told by mail.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from iam.accounts.link_tokens import LinkPurpose, link_token_check
from iam.accounts.lockout import login_lockout_clear, user_account_key
from iam.accounts.mail import (
    MailKind,
    account_mail_enqueue,
    account_mails_forget,
    security_notice_enqueue,
)
from iam.accounts.models import User
from iam.accounts.selectors import email_taken, user_get_by_email, username_taken
from iam.accounts.signals import account_deleted, account_deleting
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.broadcasts import broadcasts_deferred
from iam.core.exceptions import (
    EmailTaken,
    InvalidPassword,
    PasswordRejected,
    PasswordRequired,
    UsernameTaken,
)
from iam.core.http import ClientInfo
from iam.core.identifiers import identifier_key
from iam.core.sql import PreparedQuery
from iam.sessions.models import DeviceSession, RevokeReason
from iam.sessions.services import sessions_revoke_for_user
from iam.tenancy.services import memberships_leave_all, memberships_leave_check


def user_lock(*, user_id: uuid.UUID | str) -> tuple[str, bool] | None:
    """Lock the user's row for the transaction: sign-ins and MFA changes of one user take turns,
    so a login cannot slip a password-only session past MFA being turned on. Always taken first
    (then challenges, backup codes, device), in one order everywhere. Returns the row's current
    ``(password, is_active)``, None if it is gone. Anything else a caller needs to be current
    once the lock is held is asked in a statement after this one: the subqueries of this one
    would see the statement's snapshot, which PostgreSQL takes before waiting for the lock."""
    row = _USER_LOCK.first(user_id=user_id)
    return (row[0], bool(row[1])) if row is not None else None


# built and compiled once per process (inside a transaction: FOR UPDATE needs one)
_USER_LOCK = PreparedQuery(
    lambda *, user_id: (
        User.objects.select_for_update().filter(pk=user_id).values_list("password", "is_active")[:1]
    ),
    user_id=uuid.uuid4(),
)


def password_policy_check(*, password: str, user: User, field: str = "password") -> None:
    """NIST SP 800-63B policy (length, common-password blocklist, no likeness to the account's
    names; no composition rules). Raises ``PasswordRejected`` with one message per violation."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        messages = [
            {"message": " ".join(error.messages), "code": error.code or "invalid"}
            for error in exc.error_list
        ]
        raise PasswordRejected(messages[0]["message"], fields={field: messages}) from exc


def _username_check(username: str | None, *, user: User | None = None) -> None:
    if username and username_taken(username=username, exclude=user):
        raise UsernameTaken.on_field("username")


def user_register(*, email: str, password: str, username: str | None, client: ClientInfo) -> None:
    """Create an unverified account and mail it a verification link.

    Same outcome for the caller when the address has an account: that account's owner gets a mail
    instead (a verification link again if the account is unverified). Username and password
    checks come first and do not depend on the address, so they cannot reveal it either.
    """
    email = User.objects.normalize_email(email.strip())
    _username_check(username)
    password_policy_check(password=password, user=User(email=email, username=username))
    existing = user_get_by_email(email=email)
    if existing is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email=email, password=password, username=username or None
                )
                audit_record(event=AuditEventType.USER_REGISTERED, client=client, user_id=user.pk)
                account_mail_enqueue(kind=MailKind.VERIFY_EMAIL, user=user)
                audit_record(
                    event=AuditEventType.EMAIL_VERIFICATION_SENT, client=client, user_id=user.pk
                )
            return
        except (IntegrityError, ValidationError):
            # A concurrent registration won the address (or the username, re-checked here).
            _username_check(username)
            existing = user_get_by_email(email=email)
            if existing is None:
                raise
    with transaction.atomic():
        audit_record(
            event=AuditEventType.REGISTRATION_ATTEMPT_EXISTING, client=client, user_id=existing.pk
        )
        if not existing.is_active or existing.email_verified:
            make_password(password)  # the hashing work a new account would have cost
            if existing.is_active:
                account_mail_enqueue(kind=MailKind.REGISTRATION_ATTEMPT, user=existing)
            return
        # Unverified: nobody has proven the address yet, so the latest registration's password
        # replaces the earlier one, and only the link sent for it verifies the account (links
        # are bound to the password). Someone who registered an address they do not own cannot
        # keep a password on it once its owner registers and verifies.
        existing.set_password(password)
        existing.save(update_fields=["password", "updated_at"])
        account_mail_enqueue(kind=MailKind.VERIFY_EMAIL, user=existing)
        audit_record(
            event=AuditEventType.EMAIL_VERIFICATION_SENT, client=client, user_id=existing.pk
        )


def email_verification_resend(*, email: str, client: ClientInfo) -> None:
    """Mail a new verification link if ``email`` is an active, unverified account; otherwise a
    decoy that costs the same work (the caller cannot tell the difference)."""
    user = user_get_by_email(email=email)
    due = user is not None and user.is_active and not user.email_verified
    with transaction.atomic():
        account_mail_enqueue(
            kind=MailKind.VERIFY_EMAIL, user=user if due else None, to=None if due else email
        )
        audit_record(
            event=AuditEventType.EMAIL_VERIFICATION_SENT,
            client=client,
            user_id=user.pk if due else None,
            data={"resent": True, "sent": due},
        )


def email_verify(*, token: str, client: ClientInfo) -> User:
    """Use a verification link: the account's address becomes verified, or, for an e-mail change,
    the pending address replaces the old one (which is told)."""
    user, purpose = link_token_check(
        token=token, purposes=(LinkPurpose.VERIFY_EMAIL, LinkPurpose.EMAIL_CHANGE)
    )
    if purpose is LinkPurpose.VERIFY_EMAIL:
        with transaction.atomic():
            user, _ = link_token_check(token=token, purposes=(purpose,), lock=True)
            user.email_verified = True
            user.save(update_fields=["email_verified", "updated_at"])
            audit_record(event=AuditEventType.EMAIL_VERIFIED, client=client, user_id=user.pk)
        return user
    new_email = user.pending_email
    if email_taken(email=new_email, exclude=user):
        raise EmailTaken()
    old_email = user.email
    try:
        # The new address must reach every process (a cached row would still match invitations
        # to the old one): if Redis cannot be told, the change stands with its mail and event,
        # and RevocationNotPropagated follows (a repeat of the link answers token_used).
        with broadcasts_deferred(), transaction.atomic():
            user, _ = link_token_check(token=token, purposes=(purpose,), lock=True)
            user.email, user.pending_email, user.email_verified = new_email, "", True
            user.save(update_fields=["email", "pending_email", "email_verified", "updated_at"])
            audit_record(event=AuditEventType.EMAIL_CHANGED, client=client, user_id=user.pk)
            account_mail_enqueue(kind=MailKind.EMAIL_CHANGED, user=user, to=old_email)
    except IntegrityError as exc:  # taken by a concurrent change or registration
        raise EmailTaken() from exc
    return user


def password_reset_request(*, email: str, client: ClientInfo) -> None:
    """Mail a reset link if ``email`` is an active account; otherwise a decoy that costs the same
    work. Every request is audited (``sent`` says whether a link went out)."""
    user = user_get_by_email(email=email)
    due = user is not None and user.is_active
    with transaction.atomic():
        account_mail_enqueue(
            kind=MailKind.PASSWORD_RESET, user=user if due else None, to=None if due else email
        )
        audit_record(
            event=AuditEventType.PASSWORD_RESET_REQUESTED,
            client=client,
            user_id=user.pk if due else None,
            data={"sent": due},
        )


def password_reset_confirm(*, token: str, password: str, client: ClientInfo) -> User:
    """Set a new password from a reset link and end every session of the account.

    The link proves the address, so an unverified address becomes verified.
    """
    user, _ = link_token_check(token=token, purposes=(LinkPurpose.PASSWORD_RESET,))
    password_policy_check(password=password, user=user)
    with transaction.atomic():
        user, _ = link_token_check(token=token, purposes=(LinkPurpose.PASSWORD_RESET,), lock=True)
        user.set_password(password)
        user.email_verified = True
        user.pending_email = ""  # whoever asked to move the address may be who is locked out now
        user.save(update_fields=["password", "email_verified", "pending_email", "updated_at"])
        audit_record(event=AuditEventType.PASSWORD_RESET_COMPLETED, client=client, user_id=user.pk)
        security_notice_enqueue(kind=MailKind.PASSWORD_CHANGED, user=user)
    # the owner proved the address: sign-in delays of the account end (IP counters stay)
    login_lockout_clear(account_key=user_account_key(user.pk))
    sessions_revoke_for_user(user_id=user.pk, reason=RevokeReason.PASSWORD_RESET, client=client)
    return user


def _current_password_check(
    user: User, password: str | None, *, field: str = "current_password"
) -> None:
    if not password:
        raise PasswordRequired.on_field(field)
    if not user.check_password(password):
        raise InvalidPassword.on_field(field)


def password_change(
    *,
    user: User,
    current_password: str,
    new_password: str,
    session_id: uuid.UUID | str | None,
    client: ClientInfo,
) -> None:
    """Change the password; every other session ends, the current one stays signed in."""
    _current_password_check(user, current_password)
    password_policy_check(password=new_password, user=user, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        audit_record(event=AuditEventType.PASSWORD_CHANGED, client=client, user_id=user.pk)
        security_notice_enqueue(kind=MailKind.PASSWORD_CHANGED, user=user)
    sessions_revoke_for_user(
        user_id=user.pk,
        reason=RevokeReason.PASSWORD_CHANGED,
        client=client,
        keep_session_id=session_id,
    )


PROFILE_FIELDS = ("username", "name")


def profile_update(
    *,
    user: User,
    changes: dict[str, Any],
    current_password: str | None,
    client: ClientInfo,
) -> User:
    """Update profile fields. A new e-mail address is only requested here: it is mailed a link and
    takes effect once verified (``email_verify``); asking for it needs the current password,
    because the address is what password resets go to. Asking for the current address withdraws
    a pending change."""
    new_email = changes.get("email")
    email_request = None
    if new_email is not None:
        new_email = User.objects.normalize_email(new_email.strip())
        if identifier_key(new_email) == user.email_key:  # the same address, however spelt
            if user.pending_email:
                email_request = ""
        else:  # a new request, or the same one again (a fresh link, e.g. after expiry)
            _current_password_check(user, current_password)
            email_request = new_email
    if "username" in changes:
        changes["username"] = changes["username"] or None
        _username_check(changes["username"], user=user)
    updated = [name for name in PROFILE_FIELDS if name in changes]
    for name in updated:
        setattr(user, name, changes[name])
    if email_request is not None and email_request != user.pending_email:
        user.pending_email = email_request
        updated.append("pending_email")
    if not updated and not email_request:
        return user
    try:
        # Names are broadcast best effort; a new pending address must reach every process (a
        # withdrawal decides from it): if it cannot, the request stands with its mail and event,
        # and RevocationNotPropagated follows.
        with broadcasts_deferred(), transaction.atomic():
            if updated:
                user.save(update_fields=[*updated, "updated_at"])
            fields = sorted(set(updated) - {"pending_email"})
            if fields:
                audit_record(
                    event=AuditEventType.PROFILE_UPDATED,
                    client=client,
                    user_id=user.pk,
                    data={"fields": fields},
                )
            if email_request == "":
                audit_record(
                    event=AuditEventType.EMAIL_CHANGE_WITHDRAWN, client=client, user_id=user.pk
                )
            if email_request:
                audit_record(
                    event=AuditEventType.EMAIL_CHANGE_REQUESTED, client=client, user_id=user.pk
                )
                owner = user_get_by_email(email=email_request)
                if owner is None:
                    account_mail_enqueue(kind=MailKind.EMAIL_CHANGE_VERIFY, user=user)
                else:  # the same answer; the address's owner is told instead
                    account_mail_enqueue(kind=MailKind.EMAIL_CHANGE_ATTEMPT, user=owner)
    except IntegrityError as exc:  # a concurrent change took the username
        raise UsernameTaken.on_field("username") from exc
    return user


def account_delete(
    *,
    user: User,
    password: str | None,
    client: ClientInfo,
    code: str | None = None,
    session_id: uuid.UUID | str | None = None,
) -> None:
    """Delete an account at its owner's request (policy in docs/api.md, "Account deletion"):

    the row stays, deactivated and anonymised, so that its UUID keeps the audit trail together as
    a pseudonymous id; personal data (address, username, name, password, device sessions with
    their IPs and user agents) is erased; every session ends at once.

    It cannot be undone, so an account with MFA on also needs a second-factor ``code``: a stolen
    session plus a guessed or leaked password must not be enough to destroy the account
    (``account_deleting``: ``iam.mfa`` checks the code).

    If Redis cannot be told, the whole deletion still happens (nothing personal is left behind)
    and RevocationNotPropagated follows.
    """
    with broadcasts_deferred():
        _account_delete(
            user=user, password=password, client=client, code=code, session_id=session_id
        )


def _account_delete(
    *,
    user: User,
    password: str | None,
    client: ClientInfo,
    code: str | None,
    session_id: uuid.UUID | str | None,
) -> None:
    _current_password_check(user, password, field="password")
    memberships_leave_check(user=user)  # a refused deletion must not spend the code
    account_deleting.send(sender=User, user=user, code=code, client=client, session_id=session_id)
    with transaction.atomic():
        memberships_leave_all(user=user)  # 409 last_owner while they alone own a tenant
        user.email = f"deleted-{uuid.uuid4().hex}@deleted.invalid"
        user.username = None
        user.name = ""
        user.pending_email = ""
        user.email_verified = False
        user.is_active = False
        user.is_staff = False
        user.is_superuser = False
        user.deleted_at = timezone.now()
        user.set_unusable_password()
        user.save()
        user.groups.clear()
        user.user_permissions.clear()
        audit_record(event=AuditEventType.ACCOUNT_DELETED, client=client, user_id=user.pk)
    sessions_revoke_for_user(user_id=user.pk, reason=RevokeReason.ACCOUNT_DELETED, client=client)
    DeviceSession.objects.filter(user_id=user.pk).delete()
    account_deleted.send(sender=User, user=user)  # iam.mfa drops the second factors
    account_mails_forget(user=user)  # queued or finished mail tasks may hold old addresses
