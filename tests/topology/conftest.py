"""The topology tests (issue 16) run only on request: ``make topology`` sets ``IAM_TOPOLOGY=1``.
Without it, ``make test`` does not even import them.

One topology (tests/topology/harness.py) is started for the whole run and shared by the tests;
each test leaves it running and whole (a fault test restores what it broke)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

collect_ignore_glob = [] if os.environ.get("IAM_TOPOLOGY") == "1" else ["test_*.py"]


@pytest.fixture(scope="session")
def topology() -> Iterator[object]:
    from tests.topology.harness import started

    with started() as running:
        yield running
