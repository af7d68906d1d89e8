"""SimpleJWT-compatible endpoints: stock request/response shapes over the same sessions."""

from __future__ import annotations

import time

import pytest
import time_machine

from iam.sessions.models import DeviceSession
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_obtain_refresh_verify_shapes(api, user, keys):
    pair = api.post("/api/token/", {"email": user.email, "password": PASSWORD}, format="json")
    assert pair.status_code == 200
    assert set(pair.json()) == {"access", "refresh"}
    assert DeviceSession.objects.get().transport == "body"

    rotated = api.post("/api/token/refresh/", {"refresh": pair.json()["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}

    verify = api.post("/api/token/verify/", {"token": rotated.json()["access"]}, format="json")
    assert verify.status_code == 200
    assert verify.json() == {}


def test_stock_username_field_works(api, user, keys):
    response = api.post("/api/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200


def test_reuse_detection_applies_to_compat_refresh(api, user, keys):
    pair = api.post(
        "/api/token/", {"email": user.email, "password": PASSWORD}, format="json"
    ).json()
    api.post("/api/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    with time_machine.travel(time.time() + 10, tick=False):
        reused = api.post("/api/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_reused"


def test_compat_obtain_is_throttled_like_login(api, user, keys):
    for _ in range(5):
        api.post("/api/token/", {"email": user.email, "password": "nope"}, format="json")
    assert (
        api.post(
            "/api/token/", {"email": user.email, "password": PASSWORD}, format="json"
        ).status_code
        == 429
    )


def test_compat_verify_rejects_garbage(api, keys):
    response = api.post("/api/token/verify/", {"token": "abc"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
