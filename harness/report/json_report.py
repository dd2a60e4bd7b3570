"""report.json: the contract other tools read (schema `tfjs-parity/1`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.core.results import Report


def write(report: Report, out_dir: Path) -> Path:
    """Write atomically, so a reader never sees half a report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    os.replace(tmp, path)
    return path
