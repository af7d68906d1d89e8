"""Spellings of one address or username are one account, everywhere (``iam.core.identifiers``).

The review found that registration answered 500 for an address differing from a taken one only
by a Unicode case variant (the Kelvin sign for ``k``; the dotted capital I on PostgreSQL), and
201 for any other: the lookup (``email__iexact``) and the ``Lower(email)`` constraint compared
differently, and SQLite and PostgreSQL each in their own way. Every test here goes through the
HTTP API and runs on both databases (CI runs the suite on each).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.tenancy.models import Invitation, Membership, Role, Tenant
from tests.conftest import PASSWORD, link_token

pytestmark = pytest.mark.django_db

KELVIN = "\u212a"  # KELVIN SIGN: NFKC makes it "K", folding "k"
DOTTED_I = "\u0130"  # LATIN CAPITAL LETTER I WITH DOT ABOVE: folds to "i" + U+0307
DOTLESS_I = "\u0131"  # LATIN SMALL LETTER DOTLESS I: folds to itself
KATE = "kate@example.com"
SPELLINGS_OF_KATE = [
    f"{KELVIN}ate@example.com",
    f"{KELVIN}ATE@EXAMPLE.COM",
    "Kate@Example.Com",
    "kate@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",  # full-width "example"
]
ANOTHER = "a long passphrase of mine"


@pytest.fixture
def kate(db: Any) -> User:
    return User.objects.create_user(
        email=KATE, password=PASSWORD, username="kate", email_verified=True
    )


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash computed (the tests' hasher), to compare the work of two requests."""
    computed: list[str] = []
    encode = MD5PasswordHasher.encode

    def counting(self: Any, password: str, salt: str) -> str:
        computed.append(password)
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    return computed


def register(api: Any, email: str, **extra: Any) -> Any:
    return api.post(
        "/api/auth/register/", {"email": email, "password": ANOTHER, **extra}, format="json"
    )


def sign_in(api: Any, **body: Any) -> Any:
    return api.post(
        "/api/auth/login/", {"password": PASSWORD, "transport": "body", **body}, format="json"
    )


# --- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS_OF_KATE)
def test_registering_a_spelling_of_a_taken_address_is_the_taken_address(
    api: Any, kate: User, keys: Any, outbox: list, hashes: list, spelling: str
) -> None:
    """Same answer as a fresh address, and the same work as the taken address spelt as stored:
    one password hash, the owner told by mail, no second account."""
    fresh = register(api, "someone.else@example.com")
    outbox.clear()
    hashes.clear()
    exact = register(api, KATE)
    exact_work = (len(hashes), [m.to for m in outbox])
    outbox.clear()
    hashes.clear()

    response = register(api, spelling)

    assert response.status_code == fresh.status_code == exact.status_code == 201, response.content
    assert set(response.json()) == set(fresh.json())
    assert response.json()["detail"] == fresh.json()["detail"]
    assert (len(hashes), [m.to for m in outbox]) == exact_work == (1, [[KATE]])
    assert "someone tried to register" in outbox[0].subject
    assert User.objects.filter(email_key=kate.email_key).count() == 1
    kate.refresh_from_db()
    assert kate.check_password(PASSWORD)  # a verified account is not changed
    assert (
        AuditEvent.objects.filter(
            type="user:account:registration_attempt_existing", user_id=kate.pk
        ).count()
        == 2
    )


def test_a_spelling_of_an_unverified_address_gets_the_verification_link_at_the_stored_one(
    api: Any, keys: Any, outbox: list, login: Any
) -> None:
    register(api, KATE)
    outbox.clear()
    assert register(api, f"{KELVIN}ate@example.com").status_code == 201
    [mail] = outbox
    assert mail.to == [KATE]  # mail goes where the address was typed first
    verified = api.post("/api/auth/verify-email/", {"token": link_token(mail)}, format="json")
    assert verified.status_code == 200, verified.content
    assert User.objects.get().email == KATE
    assert login(api, email=f"{KELVIN}ATE@example.com", password=ANOTHER).status_code == 200


def test_a_dotted_capital_i_is_another_address_not_a_500(
    api: Any, keys: Any, outbox: list, hashes: list
) -> None:
    """PostgreSQL's LOWER() maps U+0130 to "i": kim and kİm clashed in the constraint but not in
    the lookup. Unicode folding keeps the dot (U+0307), so they are two addresses, each its own
    account, on every database."""
    kim = User.objects.create_user(email="kim@example.com", password=PASSWORD, email_verified=True)
    outbox.clear()
    hashes.clear()
    for spelling in (f"k{DOTTED_I}m@example.com", f"k{DOTLESS_I}m@example.com"):
        response = register(api, spelling)
        assert response.status_code == 201, response.content
    assert len(hashes) == 2
    assert sorted(m.to[0] for m in outbox) == sorted(
        [f"k{DOTTED_I}m@example.com", f"k{DOTLESS_I}m@example.com"]
    )
    assert User.objects.count() == 3
    kim.refresh_from_db()
    assert kim.check_password(PASSWORD)
    assert sign_in(api, email=f"k{DOTTED_I}m@example.com").json()["code"] != "email_not_verified"


def test_a_spelling_of_a_taken_username_is_taken(
    api: Any, kate: User, keys: Any, login: Any
) -> None:
    """``Lower("username")`` against ``username__iexact`` had the same flaw: PostgreSQL answered
    500, SQLite let a second account take the Kelvin-sign spelling of "kate"."""
    response = register(api, "kelvin@example.com", username=f"{KELVIN}ate")
    assert (response.status_code, response.json()["code"]) == (400, "username_taken")
    assert not User.objects.filter(email="kelvin@example.com").exists()

    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=True)
    bob = login(api, email="bob@example.com").json()["access"]
    renamed = api.patch(
        "/api/auth/me/",
        {"username": f"{KELVIN}ATE"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {bob}",
    )
    assert (renamed.status_code, renamed.json()["code"]) == (400, "username_taken")


# --- sign-in and the account mails ------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS_OF_KATE)
def test_sign_in_by_any_spelling_of_the_address(
    api: Any, kate: User, keys: Any, spelling: str
) -> None:
    response = sign_in(api, email=spelling)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(kate.pk)


def test_invisible_characters_and_a_full_width_at_sign_are_still_the_address(
    api: Any, kate: User, keys: Any, outbox: list
) -> None:
    """Found by the fuzzer (tests/fuzz): an address with a soft hyphen was refused as "no
    account" by the lookups (not printable) while registration folded it onto the account, and
    ``kate\uff20example.com`` was looked up as a username (no ASCII "@") although it folds to
    the address. Both are the address now, everywhere."""
    for spelling in ("kate@exam\u00adple.com", "kate\u200b@example.com", "kate\uff20example.com"):
        response = sign_in(api, email=spelling)
        assert response.status_code == 200, (spelling, response.content)
        assert response.json()["user"]["id"] == str(kate.pk)
    reset = api.post(
        "/api/auth/password/reset/", {"email": "kate@exam\u00adple.com"}, format="json"
    )
    assert reset.status_code == 202
    assert [m.to for m in outbox] == [[KATE]]


def test_sign_in_by_any_spelling_of_the_username(api: Any, kate: User, keys: Any) -> None:
    for spelling in (f"{KELVIN}ate", "KATE", "\uff4b\uff41\uff54\uff45"):
        response = sign_in(api, username=spelling)
        assert response.status_code == 200, (spelling, response.content)
        assert response.json()["user"]["id"] == str(kate.pk)


def test_reset_and_resend_reach_the_account_by_any_spelling(
    api: Any, kate: User, keys: Any, outbox: list
) -> None:
    reset = api.post(
        "/api/auth/password/reset/", {"email": f"{KELVIN}ate@example.com"}, format="json"
    )
    assert reset.status_code == 202
    [mail] = outbox
    assert mail.to == [KATE]
    assert "reset your password" in mail.subject
    done = api.post(
        "/api/auth/password/reset/confirm/",
        {"token": link_token(mail), "password": ANOTHER},
        format="json",
    )
    assert done.status_code == 200, done.content

    outbox.clear()
    User.objects.filter(pk=kate.pk).update(email_verified=False)
    resend = api.post(
        "/api/auth/verify-email/resend/", {"email": f"{KELVIN}ATE@example.com"}, format="json"
    )
    assert resend.status_code == 202
    [mail] = outbox
    assert (mail.to, "verify" in mail.subject) == ([KATE], True)


def test_an_email_change_to_a_spelling_of_a_taken_address_tells_its_owner(
    api: Any, kate: User, keys: Any, outbox: list, login: Any
) -> None:
    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=True)
    bob = {"HTTP_AUTHORIZATION": f"Bearer {login(api, email='bob@example.com').json()['access']}"}
    outbox.clear()
    response = api.patch(
        "/api/auth/me/",
        {"email": f"{KELVIN}ate@example.com", "current_password": PASSWORD},
        format="json",
        **bob,
    )
    assert response.status_code == 200, response.content  # the answer of a free address
    [mail] = outbox
    assert (mail.to, "someone tried to use your address" in mail.subject) == ([KATE], True)


def test_a_spelling_of_ones_own_address_is_no_change(
    api: Any, kate: User, keys: Any, outbox: list, login: Any
) -> None:
    access = login(api, email=KATE).json()["access"]
    outbox.clear()
    response = api.patch(
        "/api/auth/me/",
        {"email": f"{KELVIN}ATE@example.com"},  # no password needed: nothing moves
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["email"], response.json()["pending_email"]) == (KATE, "")
    assert outbox == []


def test_a_verified_change_to_an_address_taken_meanwhile_in_another_spelling_is_refused(
    api: Any, kate: User, keys: Any, outbox: list, login: Any
) -> None:
    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=True)
    access = login(api, email="bob@example.com").json()["access"]
    api.patch(
        "/api/auth/me/",
        {"email": "new@example.com", "current_password": PASSWORD},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )
    link = link_token(outbox[-1])
    User.objects.create_user(email="NEW@example.com", password=PASSWORD)  # a registration
    response = api.post("/api/auth/verify-email/", {"token": link}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "email_taken")


# --- invitations ------------------------------------------------------------------------------


@pytest.fixture
def acme_admin(api: Any, keys: Any, login: Any) -> dict[str, str]:
    acme = Tenant.objects.create(name="Acme", slug="acme")
    admin = User.objects.create_user(
        email="adam@example.com", password=PASSWORD, email_verified=True
    )
    Membership.objects.create(tenant=acme, user=admin, role=Role.objects.get(name="admin"))
    return {"HTTP_AUTHORIZATION": f"Bearer {login(api, email=admin.email).json()['access']}"}


def invite(api: Any, headers: dict[str, str], email: str) -> Any:
    return api.post("/api/tenant/invitations/", {"email": email}, format="json", **headers)


def test_a_member_is_a_member_by_any_spelling(api: Any, kate: User, acme_admin: Any) -> None:
    Membership.objects.create(
        tenant=Tenant.objects.get(slug="acme"), user=kate, role=Role.objects.get(name="member")
    )
    response = invite(api, acme_admin, f"{KELVIN}ate@example.com")
    assert (response.status_code, response.json()["code"]) == (409, "already_member")


def test_inviting_another_spelling_replaces_the_open_invitation(
    api: Any, kate: User, acme_admin: Any, outbox: list, login: Any
) -> None:
    first = invite(api, acme_admin, KATE)
    second = invite(api, acme_admin, f"{KELVIN}ATE@example.com")
    assert (first.status_code, second.status_code) == (201, 201), second.content
    assert str(Invitation.objects.filter(revoked_at__isnull=True).get().pk) == second.json()["id"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {login(api, email=KATE).json()['access']}"}
    accepted = api.post(
        "/api/tenant/invitations/accept/",
        {"token": link_token(outbox[-1])},
        format="json",
        **headers,
    )
    assert accepted.status_code == 200, accepted.content  # the invited spelling is kate's


def test_an_invitation_to_the_dotted_i_spelling_is_not_kims(
    api: Any, acme_admin: Any, outbox: list, login: Any
) -> None:
    User.objects.create_user(email="kim@example.com", password=PASSWORD, email_verified=True)
    assert invite(api, acme_admin, f"k{DOTTED_I}m@example.com").status_code == 201
    headers = {
        "HTTP_AUTHORIZATION": f"Bearer {login(api, email='kim@example.com').json()['access']}"
    }
    refused = api.post(
        "/api/tenant/invitations/accept/",
        {"token": link_token(outbox[-1])},
        format="json",
        **headers,
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "invitation_email_mismatch")


# --- the limits count every spelling as one ---------------------------------------------------


def test_the_mail_throttle_counts_every_spelling_as_one_address(
    api: Any, kate: User, keys: Any, outbox: list
) -> None:
    statuses = [
        api.post("/api/auth/password/reset/", {"email": email}, format="json").status_code
        for email in [KATE, f"{KELVIN}ate@example.com", "KATE@example.com", KATE.upper()]
    ]
    assert statuses == [202, 202, 202, 429]
    assert len(outbox) == 3


def test_the_mail_budget_counts_every_spelling_as_one_address(
    api: Any, kate: User, keys: Any, outbox: list, settings: Any
) -> None:
    settings.IAM_MAIL_BUDGET_PER_ADDRESS = 2
    for n, email in enumerate([KATE, f"{KELVIN}ate@example.com", "KATE@EXAMPLE.COM"]):
        response = api.post(
            "/api/auth/password/reset/", {"email": email}, format="json", REMOTE_ADDR=f"10.0.0.{n}"
        )
        assert response.status_code == 202
    assert len(outbox) == 2


def test_sign_in_limits_count_every_spelling_of_an_unknown_address_as_one(
    api: Any, keys: Any
) -> None:
    """Per-account limit (5/min) for an address without an account: spelt five ways from five
    addresses, the sixth spelling is refused."""
    spellings = ["kn@example.com", "KN@example.com", f"{KELVIN}n@example.com", "kN@example.com"]
    spellings += ["kn@EXAMPLE.COM", f"{KELVIN}N@Example.com"]
    statuses = [
        sign_in(api, email=email, REMOTE_ADDR=f"10.0.1.{n}").status_code
        for n, email in enumerate(spellings)
    ]
    assert statuses == [401] * 5 + [429]


def test_sign_in_delays_count_every_spelling_of_an_unknown_address_as_one(
    api: Any, keys: Any, settings: Any
) -> None:
    """The progressive delays (``iam.authn.lockout``) key an unknown identifier by its
    comparison key: two failures spelt differently start the delay of one account."""
    settings.IAM_LOCKOUT_FREE_ATTEMPTS = 2
    statuses = [
        sign_in(api, email=email, REMOTE_ADDR=f"10.0.2.{n}").status_code
        for n, email in enumerate(["kn@example.com", f"{KELVIN}N@example.com", "KN@example.com"])
    ]
    assert statuses == [401, 401, 401]
    locked = sign_in(api, email=f"{KELVIN}n@EXAMPLE.com", REMOTE_ADDR="10.0.2.9")
    assert (locked.status_code, locked.json()["code"]) == (429, "throttled")


# --- operators' paths ---------------------------------------------------------------------------


def test_createsuperuser_refuses_a_spelling_of_a_taken_address(kate: User) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="An account with this e-mail address already exists"):
        call_command("createsuperuser", "--noinput", email=f"{KELVIN}ATE@example.com")
    assert User.objects.count() == 1


def test_the_admin_user_form_refuses_a_spelling_of_a_taken_address(kate: User) -> None:
    """The keys are not form fields; the form still reports the clash instead of an
    IntegrityError on save."""
    from iam.accounts.admin import UserCreationForm, UserEditForm

    other = User.objects.create_user(email="bob@example.com", username="bob", password=PASSWORD)
    created = UserCreationForm(
        data={"email": f"{KELVIN}ate@example.com", "password1": "", "password2": ""}
    )
    assert not created.is_valid()
    assert "An account with this e-mail address already exists." in str(created.errors)
    edit = UserEditForm(
        instance=other,
        data={
            "email": "bob@example.com",
            "username": f"{KELVIN}ATE",
            "name": "",
            "password": other.password,
            "date_joined": "",
        },
    )
    assert not edit.is_valid()
    assert "An account with this username already exists." in str(edit.errors)
