"""GET /api/auth/security-log/: the user's own audit events, newest first, by cursor."""

from __future__ import annotations

from typing import Any

import pytest

from iam.accounts.models import User
from iam.audit.events import AuditEventType
from iam.audit.services import audit_record
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _auth(tokens: dict) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}


def test_lists_my_events_newest_first_with_ip_and_device(
    api: Any, user: User, login: Any, keys: Any
) -> None:
    login(api, password="not the right one", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT=FIREFOX)
    tokens = login(api, REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT=FIREFOX).json()
    User.objects.create_user(email="bob@example.com", password=PASSWORD, email_verified=True)
    login(api, email="bob@example.com")  # not mine
    response = api.get("/api/auth/security-log/", **_auth(tokens))
    assert response.status_code == 200
    events = response.json()["results"]
    assert [e["event"] for e in events] == ["user:login:succeeded", "user:login:failed"]
    succeeded, failed = events
    assert succeeded["ip"] == "198.51.100.4"
    assert succeeded["device"]["label"] == "Firefox 128 on Ubuntu"
    assert succeeded["current_session"] is True
    assert succeeded["details"]["transport"] == "body"
    assert failed["ip"] == "203.0.113.9"
    assert failed["details"] == {"reason": "bad_password"}
    assert failed["current_session"] is False
    assert set(succeeded) == {
        "id", "event", "at", "ip", "user_agent", "device", "session_id", "current_session",
        "details",
    }  # fmt: skip


def test_pages_by_cursor(api: Any, user: User, tokens: dict) -> None:
    for i in range(5):
        audit_record(event=AuditEventType.PROFILE_UPDATED, user_id=user.pk, data={"fields": [i]})
    first = api.get("/api/auth/security-log/?page_size=2", **_auth(tokens)).json()
    assert len(first["results"]) == 2
    assert first["next"]
    seen = [e["id"] for e in first["results"]]
    page = first
    while page["next"]:
        page = api.get(page["next"], **_auth(tokens)).json()
        seen.extend(e["id"] for e in page["results"])
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 6  # five updates and the login


def test_operator_details_stay_with_operators(api: Any, user: User, tokens: dict) -> None:
    audit_record(
        event=AuditEventType.MFA_RESET,
        user_id=user.pk,
        data={"by": "admin:0000", "was_enabled": True},
    )
    latest = api.get("/api/auth/security-log/", **_auth(tokens)).json()["results"][0]
    assert latest["event"] == "user:mfa:reset"
    assert latest["details"] == {}


def test_bad_cursor_and_no_credentials(api: Any, tokens: dict) -> None:
    bad = api.get("/api/auth/security-log/?cursor=garbage", **_auth(tokens))
    assert bad.status_code == 404
    assert bad.json()["code"] == "not_found"
    assert api.get("/api/auth/security-log/").status_code == 401


def test_an_unknown_event_type_is_refused(user: User) -> None:
    """The column holds no choices (a new type needs no migration): audit_record checks the
    type against AuditEventType instead, and writes nothing for anything else."""
    from iam.audit.models import AuditEvent

    before = AuditEvent.objects.count()
    with pytest.raises(ValueError, match="Unknown audit event type"):
        audit_record(event="user:nothing:happened", user_id=user.pk)  # type: ignore[arg-type]
    assert AuditEvent.objects.count() == before
