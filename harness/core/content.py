"""Content hashes of files and folders, and settings made portable: a value naming a file by
its absolute path stands for that file's bytes, so a key computed in one checkout is the same
in another checkout of the same files at another path."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path
from typing import Any


def file_sha(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names and bytes, in name
    order); hashed once per process while their sizes and modification times are unchanged.
    Raises OSError when it cannot be read."""
    files = _folder_files(path) if path.is_dir() else [path]
    stamps = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _hashed(str(path), path.is_dir(), stamps)


MAX_FILES = 1000  # a folder of more is no model or code folder: not hashed


def _folder_files(folder: Path) -> list[Path]:
    files: list[Path] = []
    for p in folder.rglob("*"):
        if p.is_file():
            files.append(p)
            if len(files) > MAX_FILES:
                raise OSError(f"{folder}: more than {MAX_FILES} files, not hashed")
    return sorted(files)


@functools.lru_cache(maxsize=256)
def _hashed(root: str, folder: bool, stamps: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _, _ in stamps:
        if folder:
            h.update(os.path.relpath(name, root).encode() + b"\0")
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def portable(value: Any) -> Any:
    """`value` (JSON-like settings) with every absolute path of an existing file or folder
    replaced by "sha256:<its content hash>"; anything else as it is."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable(v) for v in value]
    if isinstance(value, Path | str):
        p = Path(value)
        if p.is_absolute() and p.exists():
            try:
                return f"sha256:{file_sha(p)}"
            except OSError:
                return str(value)
        return str(value) if isinstance(value, Path) else value
    return value


def slug(name: str, identity: str | None = None, digits: int = 10) -> str:
    """`name` made safe as a file or folder name on any file system (at most 60 characters of
    it), with `digits` hex digits of a hash of `identity` (default: the exact name) so that two
    names alike once made safe stay apart."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "x"
    return f"{safe}-{hashlib.sha256((identity or name).encode()).hexdigest()[:digits]}"
