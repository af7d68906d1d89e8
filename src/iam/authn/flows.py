"""The login use case: credentials -> (every factor passed) -> a new device session with tokens."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from iam.accounts.models import User
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.core.conf import iam_settings
from iam.core.exceptions import EmailNotVerified, InvalidCredentials
from iam.sessions.models import Transport
from iam.sessions.services import ClientInfo, IssuedTokens, session_issue, session_open


def _fail(*, reason: str, client: ClientInfo, user: User | None = None) -> None:
    audit_record(
        event=AuditEventType.LOGIN_FAILED,
        user_id=user.pk if user else None,
        ip=client.ip,
        agent=client.user_agent,
        data={"reason": reason},
    )


def login_with_password(
    *, user: User | None, password: str, transport: Transport, client: ClientInfo
) -> IssuedTokens:
    """Check the password and open a session.

    Unknown account, wrong password and inactive account give the same answer after the same work
    (a full password hash), so the answer does not tell whether an account exists. Only a caller
    who knows the password learns that the address is unverified.
    """
    if user is None:
        make_password(password)  # the same hashing work as a real check
        _fail(reason="unknown_account", client=client)
        raise InvalidCredentials()
    if not user.check_password(password):  # also upgrades an outdated hash (e.g. PBKDF2)
        _fail(reason="bad_password", client=client, user=user)
        raise InvalidCredentials()
    if not user.is_active:
        _fail(reason="inactive", client=client, user=user)
        raise InvalidCredentials()
    if iam_settings.require_email_verification and not user.email_verified:
        _fail(reason="email_not_verified", client=client, user=user)
        raise EmailNotVerified()

    with transaction.atomic():
        session = session_open(user=user, transport=transport, amr=["pwd"], client=client)
        user.last_login = timezone.now()
        User.objects.filter(pk=user.pk).update(last_login=user.last_login)
        audit_record(
            event=AuditEventType.LOGIN_SUCCEEDED,
            user_id=user.pk,
            session_id=session.pk,
            ip=client.ip,
            agent=client.user_agent,
            data={"transport": transport, "amr": ["pwd"]},
        )
    return session_issue(session=session, user=user)
