"""What the social app does when other apps' objects change."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from iam.accounts.signals import account_deleted
from iam.social.services import identities_forget


@receiver(account_deleted, dispatch_uid="iam.social.account_deleted")
def _account_deleted(*, user: Any, **kwargs: Any) -> None:
    identities_forget(user_id=user.pk)
