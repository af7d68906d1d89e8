"""The account decisions of ``social_sign_in``, unit-tested where a race decides."""

from __future__ import annotations

from typing import Any

import pytest

from iam.accounts.models import User
from iam.sessions.models import DeviceSession, Transport
from iam.sessions.services import ClientInfo
from iam.social import flows
from iam.social.models import SocialIdentity
from iam.social.pipeline import ProviderIdentity
from iam.social.providers import ProviderConfig

PROVIDER = ProviderConfig(
    name="idp", kind="oidc", client_id="c", client_secret="s", display_name="IdP", issuer="x"
)
CLIENT = ClientInfo(ip="192.0.2.1", user_agent="test")


def _identity(email: str = "alice@example.com") -> ProviderIdentity:
    return ProviderIdentity(
        provider="idp", subject="race-1", email=email, email_verified=True, name=""
    )


@pytest.mark.django_db
def test_an_address_registered_during_the_sign_in_is_never_signed_into(
    user: User, keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look-up missed alice (she registered a moment later); creating the account then
    fails on the address: the outcome is a pending link, never a session in her account."""
    real = flows.user_get_by_email
    lookups: list[str] = []

    def missed_once(*, email: str) -> User | None:
        lookups.append(email)
        return None if len(lookups) == 1 else real(email=email)

    monkeypatch.setattr(flows, "user_get_by_email", missed_once)
    # a spelling of her address: the account's uniqueness compares spellings by their key
    result = flows.social_sign_in(
        identity=_identity("ALICE@example.com"),
        provider=PROVIDER,
        transport=Transport.BODY,
        client=CLIENT,
    )
    assert len(lookups) == 2  # the race really ran: missed, create refused, found
    assert isinstance(result, flows.LinkRequired)
    assert not DeviceSession.objects.exists()
    assert not SocialIdentity.objects.exists()
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_a_concurrent_first_sign_in_with_the_same_identity_signs_in_to_its_account(
    keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = User.objects.create_user(email="alice@example.com", email_verified=True)
    SocialIdentity.objects.create(user=other, provider="idp", subject="race-1")
    real = flows.identity_get
    calls = iter([None])
    monkeypatch.setattr(
        flows,
        "identity_get",
        lambda *, provider, subject: next(calls, None) or real(provider=provider, subject=subject),
    )
    monkeypatch.setattr(flows, "user_get_by_email", lambda *, email: None)
    result = flows.social_sign_in(
        identity=_identity(), provider=PROVIDER, transport=Transport.BODY, client=CLIENT
    )
    assert result.session.user_id == other.pk
