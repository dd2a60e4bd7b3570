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

from harness.specs import extensions


@dataclass(frozen=True)
class Case:
    id: str
    # what both runtimes receive, byte for byte: one array, or arrays by a model's input names
    input: np.ndarray | dict[str, np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)  # `$name` values for pipeline steps
    meta: dict[str, Any] = field(default_factory=dict)  # provenance, shown in the report
    # the file itself as uint8, for pipelines that start by decoding it (the `decode` op)
    file: np.ndarray | None = None


def from_file(path: Path, case_id: str | None = None) -> Case:
    """A file as it is, for pipelines that decode it themselves (a decode step, the user's
    code): nothing is decoded here, so a file only one side can decode (or neither) still
    becomes a case and a clear stage failure, not a case that cannot load."""
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    return Case(
        id=case_id or path.name, input=data, file=data, meta={"source": str(path), "kind": "file"}
    )


class CaseListError(ValueError):
    """A case list entry that names no file, said with where it is."""


@dataclass(frozen=True)
class CaseSource:
    """Where a case comes from; loaded lazily so one bad file does not stop the others.
    `kind`: "file" (its bytes as they are, for pipelines that decode them) or a kind an
    extension adds (e.g. "dicom": decoded here), read with `options` (e.g. "stats")."""

    id: str
    path: Path
    kind: str = "file"
    options: tuple[tuple[str, Any], ...] = ()

    def load(self) -> Case:
        if self.kind == "file":
            return from_file(self.path, self.id)
        return extensions.case_kinds()[self.kind].load(self.path, self.id, dict(self.options))


def source_for(path: Path, case_id: str | None = None, as_file: bool = False) -> CaseSource:
    """A file given by path alone (not in a case list): its bytes as they are (`as_file`, for
    a pipeline that decodes it), else the first kind an extension says it is (a DICOM file:
    decoded, with no statistics table) with that kind's default options. Raises
    CaseListError when there is no such file, or no kind reads it."""
    if not path.is_file():
        raise CaseListError(f"no file {path}")
    if as_file:
        return CaseSource(case_id or path.name, path)
    for name, kind in extensions.case_kinds().items():
        if kind.claims(path):
            return CaseSource(case_id or path.name, path, name, tuple(kind.options.items()))
    raise CaseListError(
        f"{path}: no kind of case reads this file (kinds: "
        f"{', '.join(extensions.case_kinds()) or 'none installed'}); a pipeline that decodes "
        "it itself (a decode step, or your code) takes it as it is"
    )


def from_path(path: Path, case_id: str | None = None) -> Case:
    """source_for(path, case_id), loaded."""
    return source_for(path, case_id).load()


def parse_case_list(entries: Any, base: Path, where: str) -> tuple[CaseSource, ...]:
    """Case entries of a suite or pipeline file: "PATH" (= {"file": PATH}), {"file": PATH}
    (the file's bytes, for pipelines that decode it or run the user's code on it) or
    {KIND: PATH, OPTION: VALUE...} for a kind an extension adds, e.g. {"dicom": PATH,
    "stats": TABLE} (decoded here; mean/std from TABLE: a bundled table's name, or a .json
    table's path; no "stats": no mean/std). PATH is relative to the listing file, may be a
    glob, or "pydicom:NAME" for a test file pydicom ships."""
    kinds = extensions.case_kinds()
    keys = ("file", *kinds)
    named = " or ".join(repr(k) for k in keys)
    if not isinstance(entries, list):
        raise CaseListError(f"{where}: a list of paths or {{{named}: path}} objects")
    found: list[tuple[str, Path, dict[str, Any], str | None]] = []  # (where, path, entry, id)
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if isinstance(entry, str):
            entry = {"file": entry}
        if not isinstance(entry, dict) or len(set(keys) & set(entry)) != 1:
            raise CaseListError(f"{at}: needs a {named} path (one of them)")
        kind = next(k for k in keys if k in entry)
        own_options = set(kinds[kind].options) if kind in kinds else set()
        unknown = sorted(set(entry) - {kind, "id"} - own_options)
        if unknown:
            raise CaseListError(f"{at}: unknown key(s) {', '.join(unknown)} for a {kind!r} case")
        text = entry[kind]
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
        _source(case_id, path, entry, base, kinds, at)
        for (at, path, entry, _), case_id in zip(found, ids, strict=True)
    )


def _source(
    case_id: str, path: Path, entry: dict[str, Any], base: Path, kinds: dict[str, Any], at: str
) -> CaseSource:
    """The entry's source; an option its kind refuses (ValueError) is a CaseListError
    naming where it is."""
    kind = next(k for k in ("file", *kinds) if k in entry)
    if kind == "file":
        return CaseSource(case_id, path)
    options = []
    for name, default in kinds[kind].options.items():
        try:
            options.append((name, kinds[kind].resolve(name, entry.get(name, default), base)))
        except ValueError as e:
            raise CaseListError(f"{at}.{name}: {e}") from None
    return CaseSource(case_id, path, kind, tuple(options))


def case_ids(paths: list[tuple[Path, str | None]], listed: list[Path] | None = None) -> list[str]:
    """Each case's id: its own (an 'id' key, or "pydicom:NAME"), else its path relative to the
    folder all the `listed` files share (default: those without an id of their own; a.png and
    a.jpg, or cats/001.jpg and dogs/001.jpg, stay apart), with / as separator."""
    local = listed if listed is not None else [p for p, own in paths if own is None]
    common = Path(os.path.commonpath([p.parent for p in local])) if local else None
    return [own or p.relative_to(common).as_posix() for p, own in paths]


def _pydicom(entry: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and v.startswith("pydicom:") for v in entry.values())


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
