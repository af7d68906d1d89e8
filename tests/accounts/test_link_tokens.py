"""The link tokens decide who may verify an address or reset a password: attack them directly."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from iam.accounts.link_tokens import LinkPurpose, link_token_check, link_token_make
from iam.accounts.models import User
from iam.core.exceptions import AccountTokenExpired, AccountTokenInvalid, AccountTokenUsed

pytestmark = pytest.mark.django_db

ALL = tuple(LinkPurpose)


@pytest.fixture
def bob() -> User:
    return User.objects.create_user(email="bob@example.com", password="bob's passphrase")


@pytest.mark.parametrize("purpose", list(LinkPurpose))
def test_a_token_names_its_user_and_purpose(bob, purpose):
    assert link_token_check(token=link_token_make(user=bob, purpose=purpose), purposes=ALL) == (
        bob,
        purpose,
    )


def test_a_token_is_only_accepted_for_the_purposes_asked_for(bob):
    token = link_token_make(user=bob, purpose=LinkPurpose.VERIFY_EMAIL)
    with pytest.raises(AccountTokenInvalid) as caught:
        link_token_check(token=token, purposes=(LinkPurpose.PASSWORD_RESET,))
    assert type(caught.value) is AccountTokenInvalid


@pytest.mark.parametrize(
    ("purpose", "change"),
    [
        (LinkPurpose.VERIFY_EMAIL, lambda u: setattr(u, "email_verified", True)),
        (LinkPurpose.VERIFY_EMAIL, lambda u: setattr(u, "email", "b2@example.com")),
        (LinkPurpose.EMAIL_CHANGE, lambda u: setattr(u, "pending_email", "other@example.com")),
        (LinkPurpose.PASSWORD_RESET, lambda u: u.set_password("a different passphrase")),
        (LinkPurpose.PASSWORD_RESET, lambda u: setattr(u, "email", "b2@example.com")),
        (LinkPurpose.PASSWORD_RESET, lambda u: setattr(u, "is_active", False)),
    ],
)
def test_a_token_dies_when_the_state_it_acts_on_changes(bob, purpose, change):
    bob.pending_email = "new@example.com"
    bob.save()
    token = link_token_make(user=bob, purpose=purpose)
    change(bob)
    bob.save()
    with pytest.raises(AccountTokenUsed):
        link_token_check(token=token, purposes=ALL)


def test_a_login_does_not_kill_a_reset_link(bob):
    token = link_token_make(user=bob, purpose=LinkPurpose.PASSWORD_RESET)
    bob.last_login = timezone.now()
    bob.save()
    assert link_token_check(token=token, purposes=ALL)[0] == bob


@pytest.mark.parametrize(
    ("purpose", "lifetime"),
    [(LinkPurpose.PASSWORD_RESET, 3600), (LinkPurpose.VERIFY_EMAIL, 86400)],
)
def test_each_purpose_has_its_own_lifetime(bob, purpose, lifetime):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        token = link_token_make(user=bob, purpose=purpose)
        clock.shift(lifetime - 5)
        assert link_token_check(token=token, purposes=ALL)[0] == bob
        clock.shift(10)
        with pytest.raises(AccountTokenExpired):
            link_token_check(token=token, purposes=ALL)


def test_a_token_signed_with_another_secret_is_refused(bob, settings):
    token = link_token_make(user=bob, purpose=LinkPurpose.PASSWORD_RESET)
    settings.SECRET_KEY = "another secret key of a sufficient length for django-" * 2
    with pytest.raises(AccountTokenInvalid):
        link_token_check(token=token, purposes=ALL)


def test_secret_key_rotation_keeps_links_working(bob, settings):
    token = link_token_make(user=bob, purpose=LinkPurpose.PASSWORD_RESET)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a freshly rotated secret key, long enough for django-" * 2
    assert link_token_check(token=token, purposes=ALL)[0] == bob


def test_a_token_of_a_deleted_user_is_refused(bob):
    token = link_token_make(user=bob, purpose=LinkPurpose.PASSWORD_RESET)
    bob.delete()
    with pytest.raises(AccountTokenInvalid):
        link_token_check(token=token, purposes=ALL)


@pytest.mark.parametrize("token", ["", "a:b:c", "W10:1xV:sig", "\x00", "é" * 50, "a" * 1000])
def test_garbage_is_invalid_not_an_error(db, token):
    with pytest.raises(AccountTokenInvalid):
        link_token_check(token=token, purposes=ALL)
