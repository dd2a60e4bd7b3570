"""Converted TF.js models in a store: each model step's TF.js model as converted when it was
recorded (DIR/models/<folder>, the converter cache's folder name: its content key), put back in
the converter's cache at replay so that nothing converts it again (no TensorFlow needed)."""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

from harness.core import content, folders
from harness.golden.store import RecordError

MODELS = "models"


def keep_model(root: Path, converted: Path) -> tuple[str, str]:
    """A converted TF.js model's folder copied into the store (once per content: the folder's
    name is its content key), so a replay serves it without converting; its name and the
    sha256 of its files (content.file_sha), which a replay checks."""
    target = root / MODELS / converted.name
    if (target / "model.json").is_file() and not _holds(target, converted):
        _remove(target)  # a store's copy that is not the conversion (a bad fetch)
    if not (target / "model.json").is_file():
        _copy_folder(converted, target)
    return converted.name, content.file_sha(target)


def restore_model(root: Path, name: str, sha: str | None, cache_models: Path) -> Path | None:
    """The store's copy of a converted model put where the converter's cache has it (what it
    finds there it does not convert again): only a copy whose files are those recorded (`sha`),
    and over a cached folder that is not. None when the store lacks it; RecordError when the
    store's copy is not what was recorded (e.g. weights left as git-LFS pointers)."""
    source = root / MODELS / name
    target = cache_models / name
    if (str(source), str(target), sha) in _restored:  # checked once per process, not per case
        return target
    if not (source / "model.json").is_file():
        return target if (target / "model.json").is_file() else None
    if sha is not None and content.file_sha(source) != sha:
        raise RecordError(
            f"{source}: its files are not those recorded (a changed or partly fetched copy, "
            "e.g. weights left as git-LFS pointers); fetch the store again or re-record it"
        )
    if (target / "model.json").is_file():
        if _holds(target, source):
            _restored.add((str(source), str(target), sha))
            return target
        _remove(target)  # a cached folder that is not what was recorded
    _copy_folder(source, target)
    _restored.add((str(source), str(target), sha))
    return target


_restored: set[tuple[str, str, str | None]] = set()  # (store copy, cache folder, sha) done


def _remove(folder: Path) -> None:
    """Out of the way in one rename (a reader sees it whole or not at all), then deleted."""
    trash = folder.with_name(f".replaced-{folder.name}-{os.getpid()}")
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _holds(target: Path, source: Path) -> bool:
    """Every file of `source` is in `target` with the same bytes (the cache may hold more)."""
    for f in source.rglob("*"):
        if f.is_file():
            other = target / f.relative_to(source)
            if not other.is_file() or not filecmp.cmp(f, other, shallow=False):
                return False
    return True


def _copy_folder(source: Path, target: Path) -> None:
    """Atomically (core.folders.publish)."""
    folders.publish(target, lambda tmp: shutil.copytree(source, tmp, dirs_exist_ok=True))
