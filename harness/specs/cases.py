"""Input cases: the array both runtimes start from, plus the parameters derived from it; and
where cases come from (files, globs, pydicom's test files), as suite and pipeline files list
them."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import dicom


@dataclass(frozen=True)
class Case:
    id: str
    # what both runtimes receive, byte for byte: one array, or arrays by a model's input names
    input: np.ndarray | dict[str, np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)  # `$name` values for pipeline steps
    meta: dict[str, Any] = field(default_factory=dict)  # provenance, shown in the report
    # the file itself as uint8, for pipelines that start by decoding it (the `decode` op)
    file: np.ndarray | None = None


def from_dicom(path: Path, stats_table: str | None = "seed", case_id: str | None = None) -> Case:
    """The motivating code's input: stored pixel values as [rows, cols, 1], mean/std by metadata
    (no statistics table: no mean/std, for pipelines that do not normalise), and the file's
    bytes for pipelines that decode it themselves."""
    image = dicom.read(path)
    params = {}
    if stats_table is not None:
        mean, std = dicom.stats_for(image, stats_table)
        params = {"mean": mean, "std": std}
    return Case(
        id=case_id or path.name,
        input=image.pixels[..., np.newaxis],
        file=np.frombuffer(path.read_bytes(), dtype=np.uint8),
        params=params,
        meta={
            "source": str(path),
            "bits_stored": image.bits_stored,
            "photometric": image.photometric,
            "modality": image.modality,
            "transfer_syntax": image.transfer_syntax,
            "shape": list(image.pixels.shape),
            "stored_dtype": str(image.pixels.dtype),
        },
    )


def from_file(path: Path, case_id: str | None = None) -> Case:
    """A DICOM file as it is, for pipelines that decode it themselves: nothing is decoded here,
    so a file only one side can decode (or neither) still becomes a case and a clear stage
    failure, not a case that cannot load."""
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    return Case(
        id=case_id or path.name, input=data, file=data, meta={"source": str(path), "kind": "file"}
    )


class CaseListError(ValueError):
    """A case list entry that names no file, said with where it is."""


@dataclass(frozen=True)
class CaseSource:
    """Where a case comes from; loaded lazily so one bad file does not stop the others."""

    id: str
    dicom: Path
    stats: str | None = "seed"  # None: no mean/std (for pipelines that do not normalise)
    as_file: bool = False  # the file's bytes, decoded by the pipeline itself

    def load(self) -> Case:
        if self.as_file:
            return from_file(self.dicom, self.id)
        return from_dicom(self.dicom, self.stats, self.id)


def parse_case_list(entries: Any, base: Path, where: str) -> tuple[CaseSource, ...]:
    """Case entries of a suite or pipeline file: "PATH" (= {"file": PATH}), {"file": PATH}
    (the file's bytes, for pipelines that decode it or run the user's code on it) or
    {"dicom": PATH, "stats": TABLE} (decoded here; mean/std from TABLE: a bundled table's name,
    or a .json table's path, see dicom.stats_table). PATH and a table's path are relative to
    the listing file, may be a glob, or "pydicom:NAME" for a test file pydicom ships."""
    if not isinstance(entries, list):
        raise CaseListError(f"{where}: a list of paths or {{'file'|'dicom': path}} objects")
    found: list[tuple[str, Path, dict[str, Any], str | None]] = []  # (where, path, entry, id)
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if isinstance(entry, str):
            entry = {"file": entry}
        if not isinstance(entry, dict) or len({"dicom", "file"} & set(entry)) != 1:
            raise CaseListError(f"{at}: needs a 'dicom' or a 'file' path (one of them)")
        unknown = sorted(set(entry) - {"dicom", "file", "stats", "id"})
        if unknown:
            raise CaseListError(f"{at}: unknown key(s) {', '.join(unknown)}")
        text = entry["file"] if "file" in entry else entry["dicom"]
        paths = _paths(base, text, at)
        if "id" in entry and (len(paths) != 1 or not isinstance(entry["id"], str)):
            raise CaseListError(f"{at}.id: a string, for an entry naming one file")
        for path in paths:
            own = entry.get("id") or (text if text.startswith("pydicom:") else None)
            found.append((at, path, entry, own))
    ids = case_ids(
        [(path, own) for _, path, _, own in found], [p for _, p, e, _ in found if not _pydicom(e)]
    )
    seen: dict[str, str] = {}
    for (at, path, _, _), case_id in zip(found, ids, strict=True):
        if case_id in seen:
            raise CaseListError(
                f"{at}: case id {case_id!r} ({path}) is also {seen[case_id]}; give each case "
                "its own file, or an 'id' of its own"
            )
        seen[case_id] = f"{at} ({path})"
    return tuple(
        CaseSource(case_id, path, _stats(entry.get("stats", "seed"), base), "file" in entry)
        for (_, path, entry, _), case_id in zip(found, ids, strict=True)
    )


def _stats(table: Any, base: Path) -> str | None:
    """A case list's "stats": a bundled table's name, or a .json table's path made absolute
    (relative to the listing file)."""
    if isinstance(table, str) and table.endswith(".json"):
        return str((base / table).resolve())
    return table


def case_ids(paths: list[tuple[Path, str | None]], listed: list[Path] | None = None) -> list[str]:
    """Each case's id: its own (an 'id' key, or "pydicom:NAME"), else its path relative to the
    folder all the `listed` files share (default: those without an id of their own; a.png and
    a.jpg, or cats/001.jpg and dogs/001.jpg, stay apart), with / as separator."""
    local = listed if listed is not None else [p for p, own in paths if own is None]
    common = Path(os.path.commonpath([p.parent for p in local])) if local else None
    return [own or p.relative_to(common).as_posix() for p, own in paths]


def _pydicom(entry: dict[str, Any]) -> bool:
    return str(entry.get("file", entry.get("dicom", ""))).startswith("pydicom:")


def _paths(base: Path, text: Any, where: str) -> list[Path]:
    if not isinstance(text, str) or not text:
        raise CaseListError(f"{where}: a path must be a non-empty string")
    if text.startswith("pydicom:"):
        return [_pydicom_file(text.removeprefix("pydicom:"), where)]
    if glob.has_magic(text):
        # absolute, not resolved: a symlinked file is the case the user listed, by its name
        found = sorted(_absolute(Path(p)) for p in glob.glob(str(base / text), recursive=True))
        found = [p for p in found if p.is_file()]
        if not found:
            raise CaseListError(f"{where}: {text!r} matches no file (relative to {base})")
        return found
    path = _absolute(base / text)
    if not path.is_file():
        raise CaseListError(f"{where}: no file {text!r} (looked for {path})")
    return [path]


def _absolute(path: Path) -> Path:
    """The path made absolute with `..` folded, symlinks kept."""
    return Path(os.path.normpath(path.absolute()))


def _pydicom_file(name: str, where: str) -> Path:
    """Only the test files in pydicom's package: the others would be downloaded, which a
    machine without internet cannot do."""
    import pydicom

    shipped = Path(pydicom.__file__).parent / "data" / "test_files" / name
    if not shipped.is_file():
        raise CaseListError(f"{where}: pydicom {pydicom.__version__} ships no test file {name!r}")
    return shipped
