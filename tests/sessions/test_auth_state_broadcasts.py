"""What is broadcast to the other processes, and what a change does when Redis cannot be told
(the list in ``iam.sessions.auth_state``): every required entry answers 503
``revocation_not_propagated`` on a dead Redis and leaves nothing half-done (its change, mails and
audit events are all there, and nothing more); every other change succeeds."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pyotp
import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.core.broadcasts import broadcasts_deferred
from iam.core.exceptions import RevocationNotPropagated
from iam.mfa.models import BackupCode, TotpDevice
from iam.sessions import auth_state
from iam.sessions.auth_state import user_change_kind
from iam.sessions.models import DeviceSession
from iam.tenancy.models import Membership, Role, Tenant
from tests.conftest import PASSWORD, bearer, link_token, me
from tests.redis_server import free_port

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another horse battery staple"
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _row(**values: Any) -> SimpleNamespace:
    base = {
        "is_active": True,
        "is_staff": False,
        "is_superuser": False,
        "email_verified": True,
        "email": "a@example.com",
        "pending_email": "",
    }
    return SimpleNamespace(**{**base, **values})


@pytest.mark.parametrize(
    ("written", "before", "after", "kind"),
    [
        # none: nothing cached is written
        ({"password"}, {}, {}, "none"),
        ({"password", "updated_at"}, {}, {}, "best_effort"),  # updated_at is cached (shown)
        # best effort: shown, or only ever widening
        ({"name"}, {}, {}, "best_effort"),
        ({"username"}, {}, {}, "best_effort"),
        ({"last_login"}, {}, {}, "best_effort"),
        ({"email_verified"}, {"email_verified": False}, {"email_verified": True}, "best_effort"),
        ({"is_active"}, {"is_active": False}, {"is_active": True}, "best_effort"),
        ({"is_staff"}, {"is_staff": False}, {"is_staff": True}, "best_effort"),
        ({"is_superuser"}, {"is_superuser": False}, {"is_superuser": True}, "best_effort"),
        (
            {"pending_email"},
            {"pending_email": "n@example.com"},
            {"pending_email": ""},
            "best_effort",
        ),
        # required: what a process holding the old row would still allow
        ({"is_active"}, {"is_active": True}, {"is_active": False}, "required"),
        ({"is_active"}, {"is_active": False}, {"is_active": False}, "required"),  # saved again
        ({"is_staff"}, {"is_staff": True}, {"is_staff": False}, "required"),
        ({"is_superuser"}, {"is_superuser": True}, {"is_superuser": False}, "required"),
        ({"email_verified"}, {"email_verified": True}, {"email_verified": False}, "required"),
        ({"email"}, {"email": "a@example.com"}, {"email": "b@example.com"}, "required"),
        ({"pending_email"}, {"pending_email": ""}, {"pending_email": "n@example.com"}, "required"),
        ({"pending_email"}, {"pending_email": "n@x.org"}, {"pending_email": "m@x.org"}, "required"),
        ({"name"}, None, {}, "required"),  # the row was not found: assume the worst
    ],
)
def test_which_user_changes_are_broadcast(written, before, after, kind):
    assert user_change_kind(before=before, user=_row(**after), written=written) == kind


@pytest.fixture
def redis_down(settings: Any) -> None:
    """Redis configured (the auth-state cache is on) but nobody answers on its port."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    assert auth_state.enabled()


def not_propagated(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "revocation_not_propagated"


def events(kind: str) -> int:
    return AuditEvent.objects.filter(type=kind).count()


def live(session_id: Any) -> bool:
    return DeviceSession.objects.get(pk=session_id).revoked_at is None


def sid_of(tokens: dict[str, Any]) -> str:
    import jwt

    return jwt.decode(tokens["access"], options={"verify_signature": False})["sid"]


@pytest.fixture
def two_sessions(api, user, login) -> tuple[dict, dict]:
    first, second = login(api), login(api)
    assert first.status_code == second.status_code == 200
    return first.json(), second.json()


# --- need not: a dead Redis changes nothing -----------------------------------------------------


def test_sign_up_to_profile_edit_needs_no_broadcast(api, keys, outbox, redis_down, settings):
    body = {"email": "new@example.com", "password": PASSWORD, "username": "newbie"}
    assert api.post("/api/auth/register/", body, format="json").status_code == 201
    assert len(outbox) == 1
    verified = api.post("/api/auth/verify-email/", {"token": link_token(outbox[0])}, format="json")
    assert verified.status_code == 200, verified.content
    login = api.post(
        "/api/auth/login/",
        {"email": "new@example.com", "password": PASSWORD, "transport": "body"},
        format="json",
    )
    assert login.status_code == 200, login.content
    auth = bearer(login.json()["access"])
    for change in ({"name": "New Person"}, {"username": "newer"}, {"username": ""}):
        assert api.patch("/api/auth/me/", change, format="json", **auth).status_code == 200
    assert api.get("/api/auth/me/", **auth).json()["name"] == "New Person"
    # a password change with no other session to end
    change = api.post(
        "/api/auth/password/change/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
        **auth,
    )
    assert change.status_code == 200, change.content
    # an address change withdrawn (cleared: a process that missed it can only show it)
    User.objects.filter(email="new@example.com").update(pending_email="later@example.com")
    withdrawn = api.patch("/api/auth/me/", {"email": "new@example.com"}, format="json", **auth)
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["pending_email"] == ""


def test_shell_and_admin_style_saves_that_only_widen_need_no_broadcast(redis_down):
    user = User.objects.create_user(
        email="x@example.com", password=PASSWORD
    )  # new: nobody knows it
    user.is_staff = user.is_superuser = user.email_verified = True  # widening
    user.save()
    User.objects.filter(pk=user.pk).update(is_active=False)  # (out of band, to reactivate below)
    user.is_active = True  # an inactive row is never cached: nothing can be stale
    user.save()
    user.set_password(NEW_PASSWORD)  # never cached
    user.save(update_fields=["password"])


def test_a_stale_request_user_cannot_write_old_access_columns_into_the_cache(api, tokens, user):
    """A user instance read from the cache before a deactivation, saved afterwards (a profile
    edit racing an admin), must not put its ``is_active=True`` back into the shared cache."""
    with override_settings(IAM_AUTH_STATE_CACHE="on"):
        assert me(api, tokens["access"]).status_code == 200
        stale = auth_state.user_without_password(cache.get(auth_state._user_key(user.pk)))
        user.is_active = False
        user.save()
        stale.name = "Racing Edit"
        stale.save(update_fields=["name"])
        assert cache.get(auth_state._user_key(user.pk)) == auth_state.STALE
        assert me(api, tokens["access"]).status_code == 401


# --- required: 503 (or the exception), and the whole change is there ----------------------------


def test_logout_is_saved_audited_once_and_repeatable(api, tokens, redis_down):
    body = {"refresh": tokens["refresh"]}
    not_propagated(api.post("/api/auth/logout/", body, format="json"))
    assert not live(sid_of(tokens))
    assert events("session:session:logout") == 1
    not_propagated(api.post("/api/auth/logout/", body, format="json"))  # re-sends, no new event
    assert events("session:session:logout") == 1
    assert me(api, tokens["access"]).status_code == 401


def test_ending_sessions_from_the_session_list(api, two_sessions, redis_down):
    current, other = two_sessions
    url = f"/api/auth/sessions/{sid_of(other)}/"
    not_propagated(api.delete(url, **bearer(current["access"])))
    assert not live(sid_of(other))
    assert events("session:session:revoked") == 1
    assert api.delete(url, **bearer(current["access"])).status_code == 404  # a repeat: ended
    logout_all = api.post(
        "/api/auth/logout-all/", {"keep_current": False}, format="json", **bearer(current["access"])
    )
    not_propagated(logout_all)
    assert not DeviceSession.objects.filter(revoked_at__isnull=True).exists()
    assert events("session:session:revoked") == 2
    repeat = api.post("/api/auth/logout-all/", {}, format="json", **bearer(current["access"]))
    assert repeat.status_code == 401  # its own session was ended too


def test_refresh_token_reuse_is_recorded(api, tokens, redis_down):
    rotated = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert rotated.status_code == 200
    api.post("/api/auth/refresh/", {"refresh": rotated.json()["refresh"]}, format="json")
    stolen = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    not_propagated(stolen)
    assert not live(sid_of(tokens))
    assert events("session:refresh:reuse_detected") == 1
    repeat = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert repeat.status_code == 401


def test_password_change_ends_the_other_sessions_with_its_notice(
    api, two_sessions, outbox, redis_down, user
):
    current, other = two_sessions
    change = api.post(
        "/api/auth/password/change/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
        **bearer(current["access"]),
    )
    not_propagated(change)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert events("user:password:changed") == 1
    assert len(outbox) == 1  # the notice
    assert live(sid_of(current))
    assert not live(sid_of(other))
    repeat = api.post(
        "/api/auth/password/change/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
        **bearer(current["access"]),
    )
    assert repeat.status_code == 400  # done: the current password is the new one now
    assert repeat.json()["code"] == "invalid_password"


def test_password_reset_ends_every_session_with_its_notice(api, tokens, outbox, redis_down, user):
    assert api.post("/api/auth/password/reset/", {"email": user.email}, format="json").status_code
    token = link_token(outbox[-1])
    confirm = api.post(
        "/api/auth/password/reset/confirm/",
        {"token": token, "password": NEW_PASSWORD},
        format="json",
    )
    not_propagated(confirm)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not live(sid_of(tokens))
    assert events("user:password:reset_completed") == 1
    assert len(outbox) == 2  # the link, then the notice
    repeat = api.post(
        "/api/auth/password/reset/confirm/",
        {"token": token, "password": NEW_PASSWORD},
        format="json",
    )
    assert repeat.status_code == 400
    assert repeat.json()["code"] == "token_used"


def test_account_deletion_erases_everything_before_answering(api, two_sessions, redis_down, user):
    current, _ = two_sessions
    deleted = api.delete(
        "/api/auth/me/", {"password": PASSWORD}, format="json", **bearer(current["access"])
    )
    not_propagated(deleted)
    user.refresh_from_db()
    assert not user.is_active
    assert user.email.endswith("@deleted.invalid")
    assert not DeviceSession.objects.filter(user=user).exists()  # deleted with their IPs
    assert events("user:account:deleted") == 1
    repeat = api.delete(
        "/api/auth/me/", {"password": PASSWORD}, format="json", **bearer(current["access"])
    )
    assert repeat.status_code == 401  # the account is gone


def _enable_totp(api, access):
    setup = api.post("/api/auth/mfa/totp/setup/", {}, format="json", **bearer(access))
    assert setup.status_code == 200, setup.content
    app = pyotp.parse_uri(setup.json()["otpauth_uri"])
    return app, lambda: api.post(
        "/api/auth/mfa/totp/enable/", {"code": app.now()}, format="json", **bearer(access)
    )


def test_mfa_enable_changes_nothing_when_its_answer_cannot_stand(
    api, two_sessions, outbox, redis_down, settings, user
):
    """The one exception: the backup codes exist only in the answer, so a 503 leaves MFA off,
    the other session live, no codes, no event and no notice; the repeat does it all."""
    current, other = two_sessions
    _, enable = _enable_totp(api, current["access"])
    not_propagated(enable())
    assert not TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()
    assert not BackupCode.objects.filter(user=user).exists()
    assert events("user:mfa:enabled") == 0
    assert outbox == []
    assert live(sid_of(other))
    settings.CACHES = LOCMEM
    repeat = enable()  # Redis is back (here: no shared cache at all); the same code still works
    assert repeat.status_code == 200, repeat.content
    assert len(repeat.json()["backup_codes"]) == 10
    assert not live(sid_of(other))
    assert events("user:mfa:enabled") == 1


def test_mfa_disable_ends_the_other_sessions_with_its_notice(api, tokens, outbox, redis_down, user):
    with override_settings(CACHES=LOCMEM):  # Redis up: MFA on, then a second sign-in
        _, enable = _enable_totp(api, tokens["access"])
        codes = enable().json()["backup_codes"]
        first = api.post(
            "/api/auth/login/",
            {"email": user.email, "password": PASSWORD, "transport": "body"},
            format="json",
        )
        other = api.post(
            "/api/auth/login/mfa/",
            {"mfa_token": first.json()["mfa_token"], "code": codes.pop()},
            format="json",
        ).json()
    outbox.clear()
    disable = api.post(
        "/api/auth/mfa/totp/disable/",
        {"password": PASSWORD, "code": codes.pop()},
        format="json",
        **bearer(tokens["access"]),
    )
    not_propagated(disable)
    assert not TotpDevice.objects.filter(user=user).exists()
    assert events("user:mfa:disabled") == 1
    assert len(outbox) == 1  # the notice
    assert live(sid_of(tokens))
    assert not live(sid_of(other))
    repeat = api.post(
        "/api/auth/mfa/totp/disable/",
        {"password": PASSWORD, "code": codes.pop()},
        format="json",
        **bearer(tokens["access"]),
    )
    assert repeat.status_code == 409
    assert repeat.json()["code"] == "mfa_not_enabled"


def test_member_removal_ends_the_tenant_sessions(api, keys, redis_down, settings):
    acme = Tenant.objects.create(name="Acme", slug="acme")
    people = {}
    for email, role in (("olga@example.com", "owner"), ("mia@example.com", "member")):
        person = User.objects.create_user(email=email, password=PASSWORD, email_verified=True)
        Membership.objects.create(tenant=acme, user=person, role=Role.objects.get(name=role))
        signed_in = api.post(
            "/api/auth/login/",
            {"email": email, "password": PASSWORD, "transport": "body", "tenant": "acme"},
            format="json",
        )
        assert signed_in.status_code == 200, signed_in.content
        people[email] = (person, signed_in.json())
    mia, mia_tokens = people["mia@example.com"]
    olga_auth = bearer(people["olga@example.com"][1]["access"])
    not_propagated(api.delete(f"/api/tenant/members/{mia.pk}/", **olga_auth))
    assert not Membership.objects.filter(user=mia).exists()
    assert events("tenant:member:removed") == 1
    assert not live(sid_of(mia_tokens))
    assert api.delete(f"/api/tenant/members/{mia.pk}/", **olga_auth).status_code == 404


def test_a_tenant_deactivation_ends_every_member_session(api, keys, redis_down):
    acme = Tenant.objects.create(name="Acme", slug="acme")
    sessions = []
    for email in ("olga@example.com", "mia@example.com"):
        person = User.objects.create_user(email=email, password=PASSWORD, email_verified=True)
        Membership.objects.create(tenant=acme, user=person, role=Role.objects.get(name="member"))
        signed_in = api.post(
            "/api/auth/login/",
            {"email": email, "password": PASSWORD, "transport": "body", "tenant": "acme"},
            format="json",
        )
        sessions.append(sid_of(signed_in.json()))
    acme.is_active = False
    with pytest.raises(RevocationNotPropagated):
        acme.save()  # the shell; in the admin, the page says it instead
    assert not Tenant.objects.get(pk=acme.pk).is_active
    assert not any(live(sid) for sid in sessions)  # not only the first member's


def test_an_address_change_request_and_its_confirmation(api, tokens, outbox, redis_down, user):
    auth = bearer(tokens["access"])
    request = api.patch(
        "/api/auth/me/",
        {"email": "moved@example.com", "current_password": PASSWORD},
        format="json",
        **auth,
    )
    not_propagated(request)  # a new pending address: a withdrawal decides from it
    user.refresh_from_db()
    assert user.pending_email == "moved@example.com"
    assert events("user:email:change_requested") == 1
    assert outbox[-1].to == ["moved@example.com"]
    confirm = api.post("/api/auth/verify-email/", {"token": link_token(outbox[-1])}, format="json")
    not_propagated(confirm)  # the address changed: invitations and introspection match it
    user.refresh_from_db()
    assert user.email == "moved@example.com"
    assert events("user:email:changed") == 1
    assert outbox[-1].to == ["alice@example.com"]  # the old address is told
    repeat = api.post("/api/auth/verify-email/", {"token": link_token(outbox[-2])}, format="json")
    assert repeat.status_code == 400
    assert repeat.json()["code"] == "token_used"


def test_an_oauth_revocation_is_saved_and_repeatable(api, tokens, redis_down, settings):
    import base64
    from urllib.parse import urlencode

    from iam.oauth.services import service_client_create

    client, secret = service_client_create(name="gw", audiences=["edge"], can_introspect=True)
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()

    def revoke() -> Any:
        return api.post(
            "/api/oauth/revoke/",
            urlencode({"token": tokens["refresh"]}),
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=f"Basic {basic}",
        )

    not_propagated(revoke())  # RFC 7009 §2.2.1: the client retries later
    assert not live(sid_of(tokens))
    assert events("session:session:revoked") == 1
    settings.CACHES = LOCMEM  # Redis back
    assert revoke().status_code == 200
    assert events("session:session:revoked") == 1


def test_deactivation_demotion_and_deletion_outside_a_request(redis_down, user):
    """Shell and commands: the exception comes at once. Outside a transaction the change is
    saved (repeat the save to re-send); inside one, it rolls the change back."""
    user.is_active = False
    with pytest.raises(RevocationNotPropagated):
        user.save()
    assert not User.objects.get(pk=user.pk).is_active
    user.is_active = True
    User.objects.filter(pk=user.pk).update(is_active=True)
    for flag in ("is_staff", "is_superuser", "email_verified"):
        User.objects.filter(pk=user.pk).update(**{flag: True})
        setattr(user, flag, False)
        with pytest.raises(RevocationNotPropagated):
            user.save(update_fields=[flag])
    user.is_active = False
    with pytest.raises(RevocationNotPropagated), transaction.atomic():
        user.save()
    assert User.objects.get(pk=user.pk).is_active  # rolled back
    with pytest.raises(RevocationNotPropagated):
        user.delete()


def test_only_live_sessions_need_a_broadcast_when_deleted(api, two_sessions, redis_down):
    current, other = two_sessions
    ended = DeviceSession.objects.get(pk=sid_of(other))
    DeviceSession.objects.filter(pk=ended.pk).update(revoked_at=ended.created_at)
    DeviceSession.objects.filter(pk=ended.pk).delete()  # cleanup_sessions' kind of delete
    with pytest.raises(RevocationNotPropagated):
        DeviceSession.objects.filter(pk=sid_of(current)).delete()


def test_an_admin_revocation_is_made_and_says_what_lags(client, keys, redis_down, tokens):
    staff = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    client.force_login(staff)
    response = client.post(
        "/admin/iam_sessions/devicesession/",
        {"action": "revoke", "_selected_action": [sid_of(tokens)]},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("Redis could not be told" in m for m in shown), shown
    assert not live(sid_of(tokens))


# --- the mechanism -------------------------------------------------------------------------------


def test_a_deferred_block_runs_to_the_end_and_reports_at_the_outermost(redis_down, tokens):
    session = DeviceSession.objects.get(pk=sid_of(tokens))
    steps = []

    def flow() -> None:
        with broadcasts_deferred():
            with broadcasts_deferred():  # nested: reports nothing itself
                auth_state.session_state_revoked(session.pk)
                steps.append("inner")
            steps.append("outer")

    with pytest.raises(RevocationNotPropagated):
        flow()
    assert steps == ["inner", "outer"]
    with broadcasts_deferred(report=False) as outcome:
        auth_state.session_state_revoked(session.pk)
    assert outcome.failure is not None
    auth_state.user_state_changed(user_id=session.user_id, required=False)  # never raises


def test_a_failed_broadcast_still_drops_this_process_copy(tokens, redis_down):
    state = auth_state.local_state
    sid = sid_of(tokens)
    state.put(sid, "u", ("u", 9e9), ("row",), generation=state.generation)
    with pytest.raises(RevocationNotPropagated):
        auth_state.session_state_revoked(sid)
    assert sid not in state.sessions
