"""Operator actions on sign-in protection."""

from __future__ import annotations

from iam.accounts.models import User
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from iam.authn.lockout import login_lockout_clear, user_account_key
from iam.sessions.services import ClientInfo


def login_unlock(
    *, actor: str, user: User | None = None, ip: str | None = None, client: ClientInfo | None = None
) -> None:
    """End the sign-in delays of an account and/or a client IP (audited with who did it)."""
    client = client or ClientInfo(ip=None, user_agent="")
    login_lockout_clear(account_key=user_account_key(user.pk) if user else None, ip=ip)
    audit_record(
        event=AuditEventType.LOGIN_UNLOCKED,
        user_id=user.pk if user else None,
        ip=client.ip,
        agent=client.user_agent,
        data={"by": actor, "account": bool(user), "unlocked_ip": ip},
    )
