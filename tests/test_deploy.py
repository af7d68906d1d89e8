"""deploy/ stays true: every command its process files run exists, every variable its
environment file sets is a real setting, the proxy passes what the IAM's trusted-proxy
settings read, and the nginx example is valid nginx (``nginx -t``; CI installs nginx)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import get_commands

from iam.core.settings_table import every_setting

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROCESS_FILES = [DEPLOY / "Procfile", *sorted((DEPLOY / "systemd").glob("*.service"))]


def _command_lines() -> list[str]:
    lines = []
    for path in PROCESS_FILES:
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                continue
            if path.name == "Procfile" and ":" in line:
                lines.extend(part.strip() for part in line.split(":", 1)[1].split("&&"))
            elif line.startswith(("ExecStart=", "ExecStartPre=")):
                lines.append(line.split("=", 1)[1])
    return lines


def test_every_manage_command_the_deploy_files_run_exists():
    commands = get_commands()
    run = [shlex.split(line) for line in _command_lines() if "manage.py" in line]
    assert len(run) >= 8
    for args in run:
        name = args[args.index("manage.py") + 1]
        assert name in commands, args


def test_the_web_process_is_gunicorn_with_the_deploy_config():
    web = [line for line in _command_lines() if "gunicorn" in line]
    assert web
    for line in web:
        assert "config.wsgi:application" in line
        assert "deploy/gunicorn.conf.py" in line
    config: dict = {}
    exec((DEPLOY / "gunicorn.conf.py").read_text(), config)  # our own file
    assert config["worker_class"] == "sync"
    assert config["forwarded_allow_ips"] == ""  # the IAM decides which proxies it trusts


def test_the_environment_example_sets_only_real_settings():
    declared = {setting.env for setting in every_setting()}
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "systemd" / "iam.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    unknown = set(names) - declared - {"PROMETHEUS_MULTIPROC_DIR"}  # prometheus_client's own
    assert unknown == set()
    assert {"DEBUG", "SECRET_KEY", "IAM_KEY_ENCRYPTION_KEYS", "DATABASE_URL"} <= set(names)


def test_the_proxy_sends_what_the_trusted_proxy_settings_read():
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "iam.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    nginx = (DEPLOY / "nginx" / "iam.conf").read_text()
    # one proxy that appends the client's address, and says the scheme it received
    assert env["IAM_TRUSTED_PROXY_COUNT"] == "1"
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx
    assert env["USE_X_FORWARDED_PROTO"] == "true"
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx
    assert "proxy_set_header Host $host;" in nginx
    upstream = re.search(r"server (127\.0\.0\.1:\d+);", nginx)
    assert upstream is not None
    config: dict = {}
    exec((DEPLOY / "gunicorn.conf.py").read_text(), config)  # our own file
    assert config["bind"] == upstream.group(1)


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_the_nginx_example_is_valid(tmp_path):
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iam.example.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    site = (DEPLOY / "nginx" / "iam.conf").read_text().replace("/etc/ssl/iam", str(tmp_path))
    (tmp_path / "iam.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\nhttp {\n"
        f"  access_log off;\n  client_body_temp_path {tmp_path};\n"
        f"  include {tmp_path}/iam.conf;\n}}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
