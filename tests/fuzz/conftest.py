"""The schema fuzzer runs only on request (``make fuzz``, which sets ``IAM_FUZZ=1``).

Without ``IAM_FUZZ=1`` its module is not even imported, so ``make test`` neither runs it nor
loads the API schema at collection.
"""

from __future__ import annotations

import os

import pytest

collect_ignore_glob = [] if os.environ.get("IAM_FUZZ") == "1" else ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: the schema-driven fuzzer (make fuzz, IAM_FUZZ=1)")
