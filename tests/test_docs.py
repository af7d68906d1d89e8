"""docs/api.md stays true: every audit event type and every domain error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

from iam.audit.events import AuditEventType
from iam.core import exceptions

ROOT = Path(__file__).resolve().parents[1]
API_DOC = (ROOT / "docs" / "api.md").read_text()


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


def test_the_migration_guide_names_real_settings_and_endpoints():
    """docs/migrating.md maps old names to this IAM's: each name on the IAM's side exists."""
    from django.urls import Resolver404, resolve

    guide = (ROOT / "docs" / "migrating.md").read_text()
    readme = (ROOT / "README.md").read_text()
    settings = set(re.findall(r"`(IAM_[A-Z_]+)`", guide))
    assert settings
    assert not sorted(name for name in settings if f"`{name}`" not in readme)
    iam_side = guide.split("## 8. The worked example")[0]  # 8 is about the example's own paths
    paths = set(re.findall(r"`(?:GET|POST|DELETE) (/[^`\s]*)`", iam_side))
    assert "/api/token/revoke/" in paths
    unserved = []
    for path in paths:
        try:
            resolve(path.replace("{id}", "6b0f3f8e-3a57-4c1e-9b8e-1f0c7f0f2a11"))
        except Resolver404:
            unserved.append(path)
    assert not unserved
