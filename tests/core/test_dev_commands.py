"""The README's commands work as printed in `make run`'s setup, from a fresh clone; a
production-like environment still refuses to start without its secrets."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
REFUSAL = "SECRET_KEY must be set when DEBUG is off"


def readme_commands() -> list[str]:
    """Every command in the README's ``sh`` blocks that runs manage.py, as printed (continued
    lines joined, trailing comments dropped)."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if "manage.py" in line:
                commands.append(line)
    return commands


def shell(clone: Path, command: str, **env: str) -> subprocess.CompletedProcess:
    # only what a fresh terminal has: nothing of the test run's own environment leaks in
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run(
        ["bash", "-c", command],
        cwd=clone,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository as a fresh clone has it (tracked and new files; no var/, no venv), with
    this run's virtualenv where `make setup` would have made one."""
    target = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert not (target / "var").exists()
    (target / ".venv").symlink_to(Path(sys.prefix))
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_readme_prints_the_commands_the_issue_names():
    printed = " ".join(readme_commands())
    for command in ("createsuperuser", "rotate_signing_keys --list", "create_tenant"):
        assert f"manage.py {command}" in printed


def test_readme_commands_work_as_printed_after_make_runs_setup(clone):
    before = shell(clone, ".venv/bin/python manage.py rotate_signing_keys --list")
    assert before.returncode != 0  # a fresh clone is not a development setup by itself
    assert REFUSAL in before.stderr

    setup = shell(clone, f"make dev SETUP= PORT={free_port()}")  # what `make run` runs first
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert (clone / "var" / "dev.env").is_file()

    for command in readme_commands():
        result = shell(clone, command)
        assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    show = "from iam.tenancy.models import Tenant; print(Tenant.objects.get().slug)"
    listed = shell(clone, f'.venv/bin/python manage.py shell --no-imports -c "{show}"')
    assert listed.stdout.strip() == "acme"


@pytest.mark.parametrize(
    "deployment",
    [
        {"DATABASE_URL": "postgres://iam@db.example.com:5432/iam"},  # a deployment names its db
        {"DEBUG": "false"},  # the environment's DEBUG always wins
        {"DEBUG": "false", "DATABASE_URL": "postgres://iam@db.example.com:5432/iam"},
    ],
)
def test_a_production_like_environment_still_refuses_next_to_the_marker(
    clone, tmp_path, deployment
):
    var = tmp_path / "var"
    var.mkdir()
    (var / "dev.env").write_text("DEBUG=true\n")  # a development marker left in the tree
    result = shell(
        clone,
        ".venv/bin/python manage.py check",
        IAM_VAR_DIR=str(var),
        ALLOWED_HOSTS="iam.example.com",
        **deployment,
    )
    assert result.returncode != 0
    assert REFUSAL in result.stderr
    assert sorted(p.name for p in var.iterdir()) == ["dev.env"]  # no secret was generated
