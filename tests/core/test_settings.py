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


def test_a_cross_origin_browser_app_is_configured_by_one_variable(tmp_path):
    """CORS_ALLOWED_ORIGINS lists the app for CORS and trusts it for CSRF; the CSRF token is
    exposed to it; IAM_COOKIE_DOMAIN moves the token cookies, never the CSRF cookie."""
    env = {
        **_production_env(tmp_path),
        "CORS_ALLOWED_ORIGINS": "https://app.example.com",
        "IAM_COOKIE_DOMAIN": "example.com",
    }
    show = (
        "from django.conf import settings as s; "
        "print(s.CSRF_TRUSTED_ORIGINS, s.CORS_EXPOSE_HEADERS, s.IAM_COOKIE_DOMAIN, "
        "s.CSRF_COOKIE_DOMAIN, s.CSRF_COOKIE_SAMESITE, sep='|')"
    )
    result = _django(["shell", "-c", show], **env)
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.strip().splitlines()[-1]
    trusted, exposed, cookie_domain, csrf_domain, samesite = last_line.split("|")
    assert trusted == "['https://app.example.com']"
    assert "X-CSRFToken" in exposed
    assert (cookie_domain, csrf_domain, samesite) == ("example.com", "None", "Lax")


@pytest.mark.parametrize(
    ("domain", "refused"),
    [
        ("example.com", False),
        (".example.com", False),
        ("iam.example.com", False),
        ("EXAMPLE.com", False),
        ("example.org", True),
        ("am.example.com", True),  # a suffix of the name, not a parent domain
        ("other.iam.example.com", True),
        ("com.", True),
    ],
)
def test_a_cookie_domain_must_cover_the_iams_own_host(domain, refused):
    from iam.core.checks import _cookie_domain_errors

    errors = _cookie_domain_errors(domain, "https://iam.example.com:8443/")
    assert [e.id for e in errors] == (["iam.E011"] if refused else [])


def test_the_cookie_domain_check_runs_at_startup(settings):
    # the test run's issuer is https://iam.test
    settings.IAM_COOKIE_DOMAIN = "example.test"
    assert "iam.E011" in {e.id for e in run_checks(databases=[])}
    settings.IAM_COOKIE_DOMAIN = "iam.test"
    assert "iam.E011" not in {e.id for e in run_checks(databases=[])}


def test_plain_http_app_origins_are_flagged_in_production(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com", "http://old.example.com"]
    warnings = [e for e in run_checks(databases=[]) if e.id == "iam.W003"]
    assert len(warnings) == 1
    assert "http://old.example.com" in warnings[0].msg
    assert "https://app.example.com" not in warnings[0].msg
    settings.DEBUG = True
    assert "iam.W003" not in {e.id for e in run_checks(databases=[])}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "5|None"),
        ({"DATABASE_CONNECT_TIMEOUT": "2"}, "2|None"),
        ({"DATABASE_POOL": "true"}, "5|5"),
    ],
)
def test_a_database_that_does_not_answer_is_waited_for_a_bounded_time(tmp_path, extra, expected):
    """libpq's connect_timeout (and the pool's wait for a free connection) bound how long a
    request waits for PostgreSQL before it answers 503 service_unavailable."""
    env = {
        **_production_env(tmp_path),
        "DATABASE_URL": "postgres://iam@db.example.com:5432/iam",
        **extra,
    }
    show = (
        "from django.conf import settings as s; o = s.DATABASES['default']['OPTIONS']; "
        "print(o['connect_timeout'], (o.get('pool') or {}).get('timeout'), sep='|')"
    )
    result = _django(["shell", "-c", show], **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "True|5"),
        ({"DATABASE_PREPARED_STATEMENTS": "false"}, "None|None"),
        ({"DATABASE_POOL": "true"}, "True|5"),
    ],
)
def test_prepared_statements_are_on_unless_turned_off(tmp_path, extra, expected):
    """Server-side binding with psycopg's prepare threshold by default (Django's default binds
    on the client and never prepares); off for poolers that cannot carry prepared statements."""
    env = {
        **_production_env(tmp_path),
        "DATABASE_URL": "postgres://iam@db.example.com:5432/iam",
        **extra,
    }
    show = (
        "from django.conf import settings as s; o = s.DATABASES['default']['OPTIONS']; "
        "print(o.get('server_side_binding'), o.get('prepare_threshold'), sep='|')"
    )
    result = _django(["shell", "-c", show], **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
