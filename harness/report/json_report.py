"""report.json: the contract other tools read (schema `tfjs-parity/1`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.core.jsonfile import read_json
from harness.core.results import Report


def write(report: Report, out_dir: Path) -> Path:
    """Write atomically, so a reader never sees half a report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read(path: Path) -> tuple[Path, Report]:
    """The report at `path` (a report folder, or its report.json) and the file it was read
    from. Raises JsonFileError (unreadable, not JSON) or ValueError (not `tfjs-parity/1`,
    naming the JSON path of the first wrong value), both in the user's terms."""
    file = path / "report.json" if path.is_dir() else path
    return file, Report.from_dict(read_json(file))
