"""What the plugin keeps on pytest's config and items between its hooks and fixtures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    pass

RUNS = pytest.StashKey["list[tuple[str, CaseResult]]"]()  # (test id, its case) of the session
TEST_RUNS = pytest.StashKey["list[tuple[CaseResult, RunResult]]"]()  # on an item: its runs
SESSION = pytest.StashKey[dict]()  # environment and timings, kept past the harness' end
RERECORDED = pytest.StashKey["list[str]"]()  # records --parity-references-update wrote
KEPT = pytest.StashKey[bool]()  # tensors were kept: the report naming them is written
SIGNALS = pytest.StashKey["list[str]"]()  # signals that stopped the session (SIGTERM)
HANDLER = pytest.StashKey[object]()  # our SIGTERM handler, when we installed one
GATHERED = pytest.StashKey["Gathered"]()  # pytest-xdist controller: what its workers sent
