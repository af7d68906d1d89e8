"""The second factor of an account the owner deletes (``iam.accounts.signals``): needed when MFA
is on, and dropped once the account is gone."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from iam.accounts.models import User
from iam.accounts.signals import account_deleted, account_deleting
from iam.core.exceptions import MfaCodeRequired
from iam.core.http import ClientInfo
from iam.mfa.enrolment import mfa_forget
from iam.mfa.selectors import mfa_enabled
from iam.mfa.verification import mfa_code_verify


@receiver(account_deleting)
def _second_factor_for_deletion(
    sender: type,
    *,
    user: User,
    code: str | None,
    client: ClientInfo,
    session_id: Any,
    **kwargs: Any,
) -> None:
    """A deletion of an account with MFA on needs a right code (it counts towards the limits)."""
    if not mfa_enabled(user_id=user.pk):
        return
    if not code:
        raise MfaCodeRequired.on_field("code")
    mfa_code_verify(
        user_id=user.pk,
        code=code,
        client=client,
        session_id=session_id,
        purpose="account_delete",
    )


@receiver(account_deleted)
def _forget_second_factor(sender: type, *, user: User, **kwargs: Any) -> None:
    mfa_forget(user_id=user.pk)
