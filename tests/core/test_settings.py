"""Configuration: production refuses to start without secrets; check --deploy is clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]


def _django(args: list[str], **env: str) -> subprocess.CompletedProcess:
    # Only what a fresh shell has: the test run's own environment must not leak in.
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": Fernet.generate_key().decode() * 2,
        "IAM_KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "iam.example.com",
        "IAM_VAR_DIR": str(tmp_path),
        "IAM_ISSUER": "https://iam.example.com",
        "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
        "IAM_FRONTEND_URL": "https://app.example.com",
    }


@pytest.mark.parametrize("missing", ["SECRET_KEY", "IAM_KEY_ENCRYPTION_KEYS", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_its_secrets(tmp_path, missing):
    env = _production_env(tmp_path)
    del env[missing]
    result = _django(["check"], **env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing was generated


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    result = _django(["check", "--deploy", "--fail-level", "WARNING"], **_production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_a_console_mailer_in_production(tmp_path):
    env = _production_env(tmp_path)
    del env["EMAIL_URL"]
    result = _django(["check", "--deploy"], **env)
    assert "mail.E001" in result.stdout + result.stderr


def test_dev_mode_generates_secrets_into_var_with_a_warning(tmp_path):
    result = _django(["check"], DEBUG="true", IAM_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in tmp_path.iterdir()} >= {"secret_key", "key_encryption_key"}
    assert "never use it in production" in result.stderr
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_dev_mode_prints_mails_readably(tmp_path):
    """``consolemail://`` (the default) prints mails as written in dev mode, so that a mailed
    token can be copied as printed (see tests/accounts/test_console_mail.py)."""
    show = "from django.conf import settings; print(settings.MAILERS['default']['BACKEND'])"
    result = _django(["shell", "-c", show], DEBUG="true", IAM_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "iam.core.mail_console.ReadableConsoleBackend" in result.stdout


@override_settings(IAM_ARGON2_MEMORY_COST_KIB=8192)
def test_argon2_below_the_owasp_floor_is_a_startup_error():
    assert "iam.E001" in {e.id for e in run_checks(include_deployment_checks=False, databases=[])}


@override_settings(IAM_KEY_ENCRYPTION_KEYS=["not-a-fernet-key"])
def test_bad_kek_is_a_startup_error():
    assert "iam.E004" in {e.id for e in run_checks(databases=[])}


@override_settings(
    MAILERS={"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": {}}}
)
def test_default_configuration_passes_the_checks():
    # (the test run's own mailer is Django's in-memory one, which iam.E008 refuses)
    assert [e for e in run_checks(databases=[]) if e.id.startswith("iam.")] == []
