"""/me: read, update, change of address, deletion."""

from __future__ import annotations

import pytest

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from tests.conftest import PASSWORD, bearer, csrf_headers, link_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def me(api, tokens):
    """``me(method, body)`` on /api/auth/me/ with alice's bearer token."""

    def _me(method, body=None):
        call = getattr(api, method)
        return call("/api/auth/me/", body, format="json", **bearer(tokens["access"]))

    return _me


def test_get_returns_the_profile(me, user):
    body = me("get").json()
    assert body["email"] == "alice@example.com"
    assert body["name"] == ""
    assert body["pending_email"] == ""
    assert "password" not in body


def test_patch_updates_name_and_username(me, user):
    response = me("patch", {"name": "Alice Liddell", "username": "alice_l"})
    assert response.status_code == 200
    assert response.json()["name"] == "Alice Liddell"
    user.refresh_from_db()
    assert (user.name, user.username) == ("Alice Liddell", "alice_l")
    event = AuditEvent.objects.get(type="user:profile:updated", user=user)
    assert event.data == {"fields": ["name", "username"]}


def test_patch_cannot_take_a_username_or_touch_other_fields(me, user):
    User.objects.create_user(email="bob@example.com", username="bob")
    taken = me("patch", {"username": "BOB"})
    assert taken.status_code == 400
    assert taken.json()["code"] == "username_taken"
    me("patch", {"is_staff": True, "email_verified": False, "id": "x"})
    user.refresh_from_db()
    assert not user.is_staff
    assert user.email_verified


def test_patch_can_clear_the_username(me, user):
    assert me("patch", {"username": ""}).json()["username"] is None


def test_a_new_address_needs_the_password_and_takes_effect_once_verified(
    me, api, user, outbox, login
):
    assert me("patch", {"email": "new@example.com"}).json()["code"] == "password_required"
    wrong = me("patch", {"email": "new@example.com", "current_password": "nope"})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_password"
    response = me("patch", {"email": "new@example.com", "current_password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"
    assert response.json()["pending_email"] == "new@example.com"
    [message] = outbox
    assert message.to == ["new@example.com"]
    user.refresh_from_db()
    assert user.email == "alice@example.com"  # not yet

    verified = api.post("/api/auth/verify-email/", {"token": link_token(message)}, format="json")
    assert verified.status_code == 200
    assert verified.json()["email"] == "new@example.com"
    user.refresh_from_db()
    assert (user.email, user.pending_email, user.email_verified) == ("new@example.com", "", True)
    # the old address is told
    assert outbox[-1].to == ["alice@example.com"]
    assert "new@example.com" in outbox[-1].body
    assert login(api, email="new@example.com").status_code == 200
    assert login(api, email="alice@example.com").status_code == 401
    types = set(AuditEvent.objects.filter(user=user).values_list("type", flat=True))
    assert {"user:email:change_requested", "user:email:changed"} <= types


def test_a_newer_request_or_a_withdrawal_kills_the_older_link(me, api, user, outbox):
    me("patch", {"email": "first@example.com", "current_password": PASSWORD})
    first = link_token(outbox[-1])
    me("patch", {"email": "second@example.com", "current_password": PASSWORD})
    assert (
        api.post("/api/auth/verify-email/", {"token": first}, format="json").json()["code"]
        == "token_used"
    )
    second = link_token(outbox[-1])
    withdrawn = me("patch", {"email": "ALICE@example.com"})  # back to the current address
    assert withdrawn.json()["pending_email"] == ""
    assert (
        api.post("/api/auth/verify-email/", {"token": second}, format="json").json()["code"]
        == "token_used"
    )


def test_asking_for_a_taken_address_looks_the_same_and_tells_its_owner(me, api, user, outbox):
    User.objects.create_user(email="bob@example.com", email_verified=True)
    free = me("patch", {"email": "free@example.com", "current_password": PASSWORD})
    taken = me("patch", {"email": "bob@example.com", "current_password": PASSWORD})
    assert free.status_code == taken.status_code == 200
    assert taken.json()["pending_email"] == "bob@example.com"
    assert outbox[-1].to == ["bob@example.com"]
    assert "token=" not in outbox[-1].body  # bob is told, alice gets no link for his address


def test_an_address_taken_before_verification_is_refused(me, api, user, outbox):
    me("patch", {"email": "new@example.com", "current_password": PASSWORD})
    token = link_token(outbox[-1])
    User.objects.create_user(email="NEW@example.com")
    response = api.post("/api/auth/verify-email/", {"token": token}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "email_taken"
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_delete_needs_the_password(me, user):
    assert me("delete", {}).status_code == 400
    wrong = me("delete", {"password": "not mine"})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_password"
    assert wrong.json()["fields"]["password"][0]["code"] == "invalid_password"  # the input's name
    user.refresh_from_db()
    assert user.is_active


@pytest.mark.parametrize("code", ["", None, "123456"])
def test_without_mfa_a_code_is_ignored(me, user, code):
    """A form that always sends the ``code`` field must work for accounts without MFA."""
    assert me("delete", {"password": PASSWORD, "code": code}).status_code == 204
    user.refresh_from_db()
    assert not user.is_active


def test_delete_deactivates_anonymises_and_ends_every_session(api, user, login, outbox):
    first = login(api).json()
    second = login(api).json()
    AuditEvent.objects.create(type="user:login:succeeded", user_id=user.pk)
    user.name = "Alice Liddell"
    user.save()
    response = api.delete(
        "/api/auth/me/", {"password": PASSWORD}, format="json", **bearer(first["access"])
    )
    assert response.status_code == 204
    user.refresh_from_db()
    assert not user.is_active
    assert user.deleted_at is not None
    assert "alice" not in user.email
    assert user.email.endswith(".invalid")
    assert user.username is None
    assert user.name == ""
    assert not user.has_usable_password()
    assert not DeviceSession.objects.filter(user=user).exists()
    for tokens in (first, second):
        assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 401
        refresh = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
        assert refresh.status_code == 401
    assert login(api).status_code == 401
    # the audit trail keeps the pseudonymous id, and nothing in it names the person
    events = AuditEvent.objects.filter(user_id=user.pk)
    assert events.filter(type="user:account:deleted").exists()
    assert all("alice" not in str(event.data) for event in events)
    # the address is free again
    again = api.post(
        "/api/auth/register/", {"email": "alice@example.com", "password": PASSWORD}, format="json"
    )
    assert again.status_code == 201
    assert User.objects.get(email="alice@example.com").pk != user.pk


def test_delete_by_cookie_needs_csrf_and_clears_the_cookies(browser, user, login):
    login(browser, transport="cookie")
    assert browser.delete("/api/auth/me/", {"password": PASSWORD}, format="json").status_code == 403
    response = browser.delete(
        "/api/auth/me/", {"password": PASSWORD}, format="json", **csrf_headers(browser)
    )
    assert response.status_code == 204
    assert response.cookies["access_token"].value == ""
    assert response.cookies["refresh_token"].value == ""
