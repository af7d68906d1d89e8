"""docs/api.md stays true: every audit event type and every domain error code is documented."""

from __future__ import annotations

from pathlib import Path

from iam.audit.events import AuditEventType
from iam.core import exceptions

API_DOC = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_every_audit_event_type_is_documented():
    missing = [event.value for event in AuditEventType if f"`{event.value}`" not in API_DOC]
    assert not missing


def test_every_error_code_is_documented():
    codes = {cls.code for cls in _subclasses(exceptions.IAMError)}
    missing = sorted(code for code in codes if f"`{code}`" not in API_DOC)
    assert not missing
