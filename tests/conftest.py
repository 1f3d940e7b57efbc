"""Test configuration: slow tests run with --run-slow or under CI=true; TF tests skip without
the [train] extra."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: ../shared beside the repository (read-only reference data nobody on the team made).
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked slow (full-size images, real training)",
    )


def pytest_collection_modifyitems(config, items):
    # CI (CI=true, as `.ci/run` is called) has the time for them: ~9 min on 2 cores.
    run_slow = config.getoption("--run-slow") or os.environ.get("CI") == "true"
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow")
    has_tf = importlib.util.find_spec("tensorflow") is not None
    skip_tf = pytest.mark.skip(reason='needs the [train] extra: pip install "jndtf[train]"')
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "tf" in item.keywords and not has_tf:
            item.add_marker(skip_tf)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"reference data not found at {SHARED}")
    return SHARED
