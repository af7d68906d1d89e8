"""Password hashing itself: real Argon2id here (the rest of the suite uses a cheap hasher)."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.test import override_settings

ARGON2_FIRST = [
    "iam.accounts.hashers.IAMArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


@override_settings(PASSWORD_HASHERS=ARGON2_FIRST)
def test_argon2id_at_the_configured_cost():
    encoded = make_password("a long enough passphrase")
    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert check_password("a long enough passphrase", encoded)
    assert not check_password("a long enough passphrasf", encoded)


@override_settings(PASSWORD_HASHERS=ARGON2_FIRST)
def test_raising_the_cost_marks_old_hashes_for_upgrade():
    encoded = make_password("a long enough passphrase")
    with override_settings(IAM_ARGON2_TIME_COST=3):
        assert identify_hasher(encoded).must_update(encoded)
        assert "t=3" in make_password("x" * 12)


@pytest.mark.django_db
@override_settings(PASSWORD_HASHERS=ARGON2_FIRST)
def test_check_password_upgrades_pbkdf2():
    from iam.accounts.models import User

    user = User.objects.create(
        email="p@example.com", password=make_password("a passphrase!", hasher="pbkdf2_sha256")
    )
    assert user.check_password("a passphrase!")
    user.refresh_from_db()
    assert identify_hasher(user.password).algorithm == "argon2"
