"""What a failing parity test leaves behind: its runs as JSON, for a look after CI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.core.results import CaseResult, RunResult


def keep_failed(out: Path | None, nodeid: str, runs: list[tuple[CaseResult, RunResult]]) -> Path:
    """The test's runs written to OUT/failed/<test id>/runs.json (OUT: --parity-out, default
    .parity-artifacts/); the file's path."""
    from harness.core.results import Report

    folder = (out or Path(".parity-artifacts")) / "failed" / re.sub(r"[^\w.-]+", "_", nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "runs.json"
    entries = [Report(environment={}, cases=[c]).to_dict()["cases"][0] for c, _ in runs]
    path.write_text(json.dumps(entries, indent=2) + "\n")
    return path
