"""Review: "no answer depends on whether an address has an account (status, body and the work
done are the same)" (docs/api.md) -- the work is not the same for reset and resend."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from iam.accounts.models import User

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def _writes(api, path, email):
    with CaptureQueriesContext(connection) as ctx:
        response = api.post(path, {"email": email}, format="json")
    assert response.status_code == 202
    return [q["sql"].split()[0] for q in ctx.captured_queries if not q["sql"].startswith("SELECT")]


@pytest.mark.parametrize(
    ("path", "verified"),
    [("/api/auth/password/reset/", True), ("/api/auth/verify-email/resend/", False)],
)
def test_known_and_unknown_addresses_cost_the_same_work(api, db, settings, path, verified):
    """Production setup (database task backend): a known address costs a task INSERT, an audit
    INSERT and a commit; an unknown one a single SELECT. Measurable from outside."""
    settings.TASKS = DATABASE_TASKS
    User.objects.create_user(email="known@example.com", password="x" * 20, email_verified=verified)
    known = _writes(api, path, "known@example.com")
    unknown = _writes(api, path, "unknown@example.com")
    assert known == unknown
