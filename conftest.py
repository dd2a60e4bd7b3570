"""Root conftest of this repository's own suite: paths and small builders shared by the tests.

The parity fixtures (parity_run, parity_harness, ...) come from the installed plugin,
harness.pytest_plugin, through its pytest11 entry point, exactly as users get them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).parent


@pytest.fixture
def fixtures_dir() -> Path:
    return REPO / "fixtures"


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[str, Any], Path]:
    """Write a JSON document (pipeline, suite) into the test's temp dir and return its path."""

    def write(name: str, doc: Any) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        return path

    return write


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regold",
        action="store_true",
        help="re-record tests/golden/ (the run then fails: commit the new golden on its own)",
    )


pytest_plugins = ["pytester"]  # tests/test_pytest_plugin.py runs a user's test file
