"""Copying a user's files into a repro pack."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SKIPPED = {"node_modules", "__pycache__", "site-packages", "venv"}


def copy_tree(source: Path, target: Path, suffixes: tuple[str, ...], pack: Path) -> None:
    """The files of `source` and the folders below it with these suffixes (hidden folders,
    environments, node_modules, report folders and the pack itself left out)."""
    for here, dirs, files in os.walk(source):
        dirs[:] = [
            d for d in dirs
            if not d.startswith(".") and d not in SKIPPED
            and not (Path(here) / d / "pyvenv.cfg").exists()
            and not (Path(here) / d / "report.json").exists()
            and (Path(here) / d).resolve() != pack.resolve()
        ]  # fmt: skip
        for f in files:
            if f.endswith(suffixes):
                to = target / Path(here).relative_to(source) / f
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(here) / f, to)
