"""Review: what is left of a deleted account."""

from __future__ import annotations

import pytest
from django_tasks_db.models import DBTaskResult

from iam.accounts.link_tokens import LinkPurpose, link_token_make
from iam.accounts.models import User
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def test_deletion_leaves_no_address_in_the_mail_queue(api, user, tokens, settings):
    """docs/api.md: "everything that identifies the person is erased at once". The "your
    address was changed" task keeps the old address in its arguments (``to``) for as long as
    task rows are kept, also after the account is deleted."""
    settings.TASKS = DATABASE_TASKS
    api.patch(
        "/api/auth/me/",
        {"email": "new@example.com", "current_password": PASSWORD},
        format="json",
        **bearer(tokens["access"]),
    )
    token = link_token_make(user=User.objects.get(pk=user.pk), purpose=LinkPurpose.EMAIL_CHANGE)
    assert api.post("/api/auth/verify-email/", {"token": token}, format="json").status_code == 200
    deleted = api.delete(
        "/api/auth/me/", {"password": PASSWORD}, format="json", **bearer(tokens["access"])
    )
    assert deleted.status_code == 204
    queued = [str(row.args_kwargs) for row in DBTaskResult.objects.all()]
    assert not [args for args in queued if "alice@example.com" in args]
