"""The framework floor (``bench/floor/floor_django.py``) is only a fair reference if it sends what
the IAM must send: every security header of an IAM response, with the same value. And the
bench's paired ratio against a reference is computed round by round."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from django.test import Client

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Frame-Options",
)
PROBE = """
import json
from django.test import Client
import floor_django  # noqa: F401  (sets Django up with floor_django_settings)
response = Client().get("/ping", HTTP_HOST="127.0.0.1")
print(json.dumps({"status": response.status_code, "headers": dict(response.headers)}))
"""


def framework_floor_ping() -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "floor_django_settings",
        # /ping opens no connection: any database URL the settings can read will do
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "SECRET_KEY": "test-framework-floor-" + "x" * 40,
        "PYTHONPATH": str(BENCH_DIR / "floor"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=BENCH_DIR / "floor",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_framework_floor_sends_every_security_header_of_the_iam(db: None) -> None:
    iam = Client().get("/healthz")
    floor = framework_floor_ping()
    assert floor["status"] == 200
    for name in SECURITY_HEADERS:
        assert name in iam.headers, name
        assert floor["headers"].get(name) == iam.headers[name], name


@pytest.fixture(scope="module")
def bench_run() -> ModuleType:
    saved_path = list(sys.path)
    spec = importlib.util.spec_from_file_location("bench_run_module", BENCH_DIR / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)
    sys.path[:] = saved_path


def test_paired_ratios_are_taken_round_by_round(bench_run: ModuleType) -> None:
    results = {
        "floor_django": {"refresh_rps_rounds": [100.0, 50.0, 200.0]},
        "iam": {"refresh_rps_rounds": [90.0, 30.0, 120.0]},
    }
    ratios = bench_run.paired_refresh_ratios(results, "floor_django")
    # rounds 0.9, 0.6, 0.6: the median of the per-round ratios, not the ratio of medians (0.9)
    assert ratios == {"floor_django": 1.0, "iam": 0.6}
