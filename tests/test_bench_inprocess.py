"""The pieces of ``bench/inprocess.py`` that decide what its figures say: which layer a py-spy
sample counts for, the PostgreSQL backend's CPU read from ``/proc``, and the WAL position."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from django.db import connection

from iam.audit.models import AuditEvent

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"
SITE = "/venv/lib/python3.12/site-packages"
MARK = "_sampled_requests (/repo/bench/inprocess.py:430)"


@pytest.fixture(scope="module")
def inprocess() -> ModuleType:
    saved_path, saved_run = list(sys.path), sys.modules.get("run")
    spec = importlib.util.spec_from_file_location("bench_inprocess", BENCH_DIR / "inprocess.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # it puts bench/ on sys.path and imports bench/run.py
    yield module
    sys.path[:] = saved_path
    if saved_run is None:
        sys.modules.pop("run", None)
    else:
        sys.modules["run"] = saved_run


def sample(*frames: str, count: int = 1) -> str:
    return ";".join(("<module> (/repo/bench/inprocess.py:700)", MARK, *frames)) + f" {count}"


def test_a_sample_counts_for_its_innermost_frames_layer(inprocess: ModuleType) -> None:
    lines = [
        sample(
            f"WSGIHandler.__call__ ({SITE}/django/core/handlers/wsgi.py:120)",
            "session_rotate (/repo/src/iam/sessions/services.py:323)",
            count=3,
        ),
        sample(
            f"WSGIHandler.__call__ ({SITE}/django/core/handlers/wsgi.py:120)",
            f"APIView.dispatch ({SITE}/rest_framework/views.py:490)",
            count=2,
        ),
    ]
    per_layer, _ = inprocess.pyspy_attribution(lines)
    assert per_layer == {"IAM code": 3, "DRF (request, parsers, serializers, views)": 2}


def test_the_standard_librarys_time_counts_for_its_caller(inprocess: ModuleType) -> None:
    lines = [
        sample(
            "_issue (/repo/src/iam/sessions/services.py:87)",
            "uuid4 (/usr/lib/python3.12/uuid.py:720)",
            "UUID.__init__ (/usr/lib/python3.12/uuid.py:139)",
        )
    ]
    per_layer, _ = inprocess.pyspy_attribution(lines)
    assert per_layer == {"IAM code": 1}


def test_a_signature_counts_apart_from_pyjwts_python(inprocess: ModuleType) -> None:
    lines = [
        sample(
            f"PyJWS.encode ({SITE}/jwt/api_jws.py:123)",
            f"RSAAlgorithm.sign ({SITE}/jwt/algorithms.py:682)",
            count=4,
        ),
        sample(f"PyJWS.encode ({SITE}/jwt/api_jws.py:123)"),
    ]
    per_layer, _ = inprocess.pyspy_attribution(lines)
    assert per_layer == {
        "RSA/HMAC sign + verify": 4,
        "JWT encode/decode (PyJWT, SimpleJWT)": 1,
    }


def test_samples_outside_the_measured_requests_are_left_out(inprocess: ModuleType) -> None:
    lines = [
        "<module> (/repo/bench/inprocess.py:700);main (/repo/bench/inprocess.py:600);"
        f"setup ({SITE}/django/__init__.py:24) 50",
        sample("session_rotate (/repo/src/iam/sessions/services.py:323)"),
    ]
    per_layer, per_function = inprocess.pyspy_attribution(lines)
    assert per_layer == {"IAM code": 1}
    assert "setup (" + SITE + "/django/__init__.py)" not in per_function


def test_a_function_counts_once_per_sample_whatever_its_line(inprocess: ModuleType) -> None:
    lines = [
        sample(
            f"URLResolver.resolve ({SITE}/django/urls/resolvers.py:670)",
            f"URLResolver.resolve ({SITE}/django/urls/resolvers.py:681)",
            count=2,
        )
    ]
    _, per_function = inprocess.pyspy_attribution(lines)
    assert per_function == {f"URLResolver.resolve ({SITE}/django/urls/resolvers.py)": 2}


@pytest.mark.skipif(not Path("/proc/self/schedstat").exists(), reason="needs Linux's /proc")
def test_backend_cpu_is_read_from_proc(inprocess: ModuleType) -> None:
    before = inprocess.pg_backend_cpu(os.getpid())
    sum(i * i for i in range(200_000))  # some CPU of this process
    after = inprocess.pg_backend_cpu(os.getpid())
    assert before is not None
    assert after is not None
    assert after > before


def test_backend_cpu_is_none_without_a_readable_process(inprocess: ModuleType) -> None:
    assert inprocess.pg_backend_cpu(None) is None
    assert inprocess.pg_backend_cpu(2**22 + 1) is None  # above Linux's largest PID


def test_layers_scale_so_that_the_signature_samples_cost_the_signature(
    inprocess: ModuleType,
) -> None:
    per_layer = Counter({"RSA/HMAC sign + verify": 120, "IAM code": 60, "SQL": 30})
    # 100 of the 120 samples are the RS256 signature, one per request at 0.7 ms
    scaled = inprocess.scaled_by_signature(per_layer, 100, 0.7, 1)
    assert scaled == {"RSA/HMAC sign + verify": 0.84, "IAM code": 0.42, "SQL": 0.21}
    # two signatures per request (stock's RS256 refresh tokens): the same samples cost twice
    assert inprocess.scaled_by_signature(per_layer, 100, 0.7, 2)["IAM code"] == 0.84


def test_no_signature_no_scale(inprocess: ModuleType) -> None:
    per_layer = Counter({"IAM code": 60})
    assert inprocess.scaled_by_signature(per_layer, 0, 0.7, 1) == {}
    assert inprocess.scaled_by_signature(per_layer, 100, 0.7, 0) == {}


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_wal_position_moves_by_what_a_write_logs(inprocess: ModuleType) -> None:
    before = inprocess.pg_wal_position("iam")
    AuditEvent.objects.create(type="bench:wal", data={"pad": os.urandom(3000).hex()})
    after = inprocess.pg_wal_position("iam")
    assert before is not None
    assert after is not None
    assert after - before > 3000  # the row's 6,000 characters, compressed or not, are in the log


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "postgresql", reason="the other databases")
def test_wal_position_is_none_off_postgresql(inprocess: ModuleType) -> None:
    assert inprocess.pg_wal_position("iam") is None
