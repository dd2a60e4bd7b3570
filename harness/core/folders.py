"""Folders published whole: filled beside their place and moved into it in one rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once, at import: os.umask can only be read by setting it


def publish(target: Path, fill: Callable[[Path], None], marker: str = "model.json") -> None:
    """`fill(tmp)` writes the folder's files into a fresh folder beside `target`, which is then
    renamed to `target`: a reader (another thread or process) sees the whole folder or none.
    When another one published `target` first (it holds `marker`), theirs stays and this copy
    is dropped; any other failure to rename is raised."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name[:40]}-", dir=target.parent))
    try:
        fill(tmp)
        os.chmod(tmp, 0o777 & ~UMASK)  # as a plain folder would be, not mkdtemp's 0700
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
