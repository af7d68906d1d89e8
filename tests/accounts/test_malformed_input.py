"""Review: malformed but schema-valid input must be a 4xx, never a 500 or a corrupt row."""

from __future__ import annotations

import pytest

from iam.accounts.models import User
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

# 222 characters, a valid address for the serializer (max_length=254); normalize_email()
# lower-cases the domain and U+0130 lower-cases to two code points, so it becomes 432.
GROWS_WHEN_NORMALISED = "a@" + ("\u0130" * 30 + ".") * 7 + "com"


def test_register_with_an_address_that_grows_when_normalised_is_not_a_500(api, keys, outbox):
    api.raise_request_exception = False
    body = {"email": GROWS_WHEN_NORMALISED, "password": PASSWORD}
    response = api.post("/api/auth/register/", body, format="json")
    assert response.status_code in (201, 400), response.content  # 500: uncaught ValidationError


def test_patch_me_with_an_address_that_grows_when_normalised(api, user, tokens, outbox):
    """500 on PostgreSQL (value too long for varchar(254)); on SQLite a 432-character
    pending_email is stored and mailed to."""
    api.raise_request_exception = False
    response = api.patch(
        "/api/auth/me/",
        {"email": GROWS_WHEN_NORMALISED, "current_password": PASSWORD},
        format="json",
        **bearer(tokens["access"]),
    )
    assert response.status_code in (200, 400), response.content
    pending = User.objects.get(pk=user.pk).pending_email
    assert len(pending) <= User._meta.get_field("pending_email").max_length
