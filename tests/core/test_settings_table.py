"""Each setting is declared once (iam.core.settings_table): the README's table is written from
the declarations, every IAM_* Django setting has one, and nothing reads settings.IAM_* around the
typed object."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.test import override_settings

from iam.core.conf import iam_settings
from iam.core.management.commands.settings_table import readme_with_table
from iam.core.settings_table import IAMSettings, every_setting

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_table_is_written_from_the_declarations():
    readme = (ROOT / "README.md").read_text()
    assert readme_with_table(readme) == readme, "run: python manage.py settings_table --write"


def test_every_iam_setting_is_declared():
    declared = {setting.name for setting in every_setting()}
    names = {name for name in dir(settings) if name.startswith("IAM_")}
    assert names - declared == set(), "declare these in iam.core.settings_table"


def test_every_environment_variable_is_declared_once():
    variables = [setting.env for setting in every_setting() if setting.env]
    assert len(variables) == len(set(variables))
    config = (ROOT / "config" / "settings.py").read_text()
    assert re.findall(r"env\.(?:str|int|bool|list)\(\"", config) == []  # read via the table


def test_nothing_reads_iam_settings_around_the_typed_object():
    readers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src").rglob("*.py")
        if re.search(r"settings\.IAM_|getattr\(settings, \"IAM_", path.read_text())
    ]
    assert readers == []


def test_typed_values_follow_overrides():
    assert iam_settings.lockout_window == settings.IAM_LOCKOUT_WINDOW
    with override_settings(IAM_MFA_REAUTH_AGE=42, IAM_LOCKOUT_WINDOW=7):
        assert iam_settings.mfa_reauth_age == timedelta(seconds=42)
        assert iam_settings.lockout_window == 7
    assert iam_settings.mfa_reauth_age == timedelta(seconds=settings.IAM_MFA_REAUTH_AGE)


def test_the_typed_object_has_a_declaration_per_attribute():
    assert {s.attr for s in IAMSettings.declared()} >= {"issuer", "lockout_window", "dev_mode"}
