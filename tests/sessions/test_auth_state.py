"""The hot path's shared-cache answers: fast, and never able to outlive a revocation."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings

from iam.audit.models import AuditEvent
from iam.sessions import auth_state
from iam.sessions.models import DeviceSession
from iam.sessions.services import session_revoke
from tests.conftest import me

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shared_state_cache")]


@pytest.fixture
def shared_state_cache():
    # One process in tests, so local memory stands in for the shared cache here.
    with override_settings(IAM_AUTH_STATE_CACHE="on"):
        yield


def test_auto_mode_uses_only_a_shared_cache():
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(IAM_AUTH_STATE_CACHE="auto", CACHES=locmem):
        assert auth_state.enabled() is False  # local memory is per process
    with override_settings(
        IAM_AUTH_STATE_CACHE="auto",
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:1/0",
            }
        },
    ):
        assert auth_state.enabled() is True


def test_second_request_needs_no_query(api, tokens, django_assert_num_queries):
    assert me(api, tokens["access"]).status_code == 200
    with django_assert_num_queries(0):
        response = me(api, tokens["access"])
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


def test_cached_user_never_holds_the_password_hash(api, tokens, user):
    me(api, tokens["access"])
    row = cache.get(auth_state._user_key(user.pk))
    assert user.password not in [str(v) for v in row]
    cached_user = auth_state.user_without_password(row)
    cached_user.email_verified = False
    cached_user.save()  # writes the loaded columns only: the password survives
    user.refresh_from_db()
    assert user.check_password("correct horse battery staple")


def test_a_user_built_from_its_columns_is_the_stored_user_with_the_password_deferred(user):
    stored = type(user).objects.get(pk=user.pk)
    row = tuple(getattr(stored, name) for name in auth_state.user_columns())
    built = auth_state.user_without_password(row)
    assert built.get_deferred_fields() == {"password"}
    assert not built._state.adding
    assert built._state.db == "default"
    every = [f.attname for f in type(user)._meta.concrete_fields if f.attname != "password"]
    assert [built.__dict__[name] for name in every] == [stored.__dict__[name] for name in every]
    assert built.password == stored.password  # read from the database when asked


def test_logout_is_refused_at_once_from_the_cache(api, tokens):
    me(api, tokens["access"])
    api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert me(api, tokens["access"]).status_code == 401


def test_deactivation_is_refused_at_once(api, tokens, user):
    me(api, tokens["access"])
    user.is_active = False
    user.save()
    assert me(api, tokens["access"]).status_code == 401


def test_profile_change_is_visible_at_once(api, tokens, user):
    me(api, tokens["access"])
    user.username = "alice2"
    user.save()
    assert me(api, tokens["access"]).json()["username"] == "alice2"


def test_a_refill_racing_a_revocation_cannot_resurrect_the_session(api, tokens):
    session = DeviceSession.objects.get()
    stale_row = (str(session.user_id), session.expires_at.timestamp())
    session_revoke(session=session, reason="admin")
    # a request that read the database just before the revocation now tries to fill the cache
    cache.add(auth_state._session_key(str(session.pk)), stale_row, auth_state.TTL)
    assert me(api, tokens["access"]).status_code == 401


class Down:
    def __call__(self, *args, **kwargs):
        raise ConnectionError("redis is down")


def test_cache_down_falls_back_to_the_database(api, tokens, monkeypatch):
    for name in ("get_many", "add", "set", "set_many"):
        monkeypatch.setattr(cache, name, Down())
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    assert api.get("/api/auth/me/", **headers).status_code == 200
    logout = api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    # saved, but other processes could not be told: said, not hidden (and retrying is safe)
    assert logout.status_code == 503
    assert logout.json()["code"] == "revocation_not_propagated"
    assert DeviceSession.objects.get().revoked_at is not None
    assert AuditEvent.objects.filter(type="session:session:logout").exists()
    assert api.get("/api/auth/me/", **headers).status_code == 401


def test_a_thread_that_read_before_an_invalidation_cannot_store_it():
    from iam.sessions.auth_state import LocalAuthState

    state = LocalAuthState()
    generation = state.generation  # what ready() handed to a request thread
    state._apply(b"s:some-session")  # another thread drained a revocation meanwhile
    state.put("some-session", "u", ("u", 9e9), ("row",), generation=generation)
    assert state.sessions == {}
    state.put("some-session", "u", ("u", 9e9), ("row",), generation=state.generation)
    assert "some-session" in state.sessions
