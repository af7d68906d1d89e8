"""The app order (README, "Layout") holds: a module imports only from its own app and the apps
below it, and no modules import each other in a circle. The contracts live in pyproject.toml
(``[tool.importlinter]``) and run here and in ``make lint``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def test_apps_import_only_downwards_and_without_cycles(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename="pyproject.toml", no_cache=True, no_logo=True) == 0


def test_every_app_has_its_place_in_the_order():
    layers = _contracts()["app-order"]["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    apps = {f"iam.{path.parent.name}" for path in (ROOT / "src" / "iam").glob("*/apps.py")}
    assert apps <= placed, f"add {sorted(apps - placed)} to the app order in pyproject.toml"


def _tree_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the code with ``line`` added to ``module`` (a path below src/)."""
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "config", tmp_path / "config")
    client = ROOT / "packages" / "iam-client" / "src"
    shutil.copytree(client, tmp_path / "client", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # core, the lowest app, reaching up into the login flow
        ("iam/core/http.py", "from iam.authn import flows", "iam.core is not allowed"),
        # sessions reaching up into the accounts (they use settings.AUTH_USER_MODEL instead)
        ("iam/sessions/selectors.py", "import iam.accounts.models", "is not allowed to import"),
        # the circle issue 20 removed: the invitation mail and the tenant services
        ("iam/tenancy/mail.py", "import iam.tenancy.services", "No import cycles"),
    ],
)
def test_the_contracts_catch_an_upward_import_or_a_cycle(tmp_path, module, line, broken):
    tree = _tree_with(tmp_path, module, line)
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", "pyproject.toml"],
        cwd=tree,
        env={"PYTHONPATH": f"{tree / 'src'}:{tree}:{tree / 'client'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert broken in result.stdout
