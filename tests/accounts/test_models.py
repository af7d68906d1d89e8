from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError

from iam.accounts.models import User

pytestmark = pytest.mark.django_db


def test_uuid_primary_key_and_defaults():
    user = User.objects.create_user(email="Bob@EXAMPLE.com", password="x" * 12)
    assert isinstance(user.pk, uuid.UUID)
    assert user.email == "Bob@example.com"  # domain part normalised
    assert (user.email_verified, user.is_active, user.username) == (False, True, None)
    assert user.created_at
    assert user.updated_at


def test_email_is_unique_case_insensitively():
    User.objects.create_user(email="bob@example.com")
    with pytest.raises(IntegrityError):
        User.objects.create(email="BOB@example.com")


def test_username_is_optional_and_unique_case_insensitively():
    User.objects.create_user(email="a@example.com")
    User.objects.create_user(email="b@example.com")  # two users without usernames
    User.objects.create_user(email="c@example.com", username="Carol")
    with pytest.raises(IntegrityError):
        User.objects.create(email="d@example.com", username="carol")


def test_superuser_is_staff_and_verified():
    admin = User.objects.create_superuser(
        email="root@example.com", password="a quiet harbour at dusk"
    )
    assert admin.is_staff
    assert admin.is_superuser
    assert admin.email_verified
