"""Optional parts of the harness, found through the entry point group `tfjs_parity.extensions`.

An extension adds a domain to the core without the core importing it: ops for the catalogue
(their settings and Python side; the page's side lives in web/page/ops.js), kinds of case a
case list can name (a key such as "dicom", and how an entry of that kind loads), details a
report gives about a stage of one of its ops, and the errors that mean "this input cannot be
used". The DICOM support is one (`harness.dicom.extension`), registered in pyproject.toml:

    [project.entry-points."tfjs_parity.extensions"]
    dicom = "harness.dicom.extension:EXTENSION"

Entry points are read once, on first use (importlib.metadata); an entry point that cannot be
loaded raises ExtensionError naming it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import numpy as np

    from harness.specs.cases import Case
    from harness.specs.op_schemas import OpSchema

GROUP = "tfjs_parity.extensions"
V = TypeVar("V")


class ExtensionError(ValueError):
    """An installed extension that cannot be loaded, or two that claim the same name: the
    set-up is wrong, said in one sentence before anything runs (the CLI's exit 2)."""


@dataclass(frozen=True)
class CaseKind:
    """How a case-list entry of one kind ({KEY: PATH, ...}) becomes a Case.

    `options`: the entry's other keys this kind reads, each with its default. `resolve(name,
    value, base)`: an option's value as given, made ready to load (e.g. a path made absolute
    against the listing file's folder `base`). `load(path, case_id, options) -> Case`; raises
    one of the extension's `input_errors` for a file it cannot use. `claims(path)`: whether a
    file given by path alone (no case list) is of this kind."""

    load: Callable[[Path, str, Mapping[str, Any]], Case]
    options: Mapping[str, Any] = field(default_factory=dict)
    resolve: Callable[[str, Any, Path], Any] = lambda _name, value, _base: value
    claims: Callable[[Path], bool] = lambda _path: False


@dataclass(frozen=True)
class Extension:
    """What one optional part adds. `ops`: op name -> its settings (OpSchema); `python_ops`:
    op name -> its Python implementation (numpy in, numpy out); `case_kinds`: case-list key ->
    CaseKind; `stage_details`: op name -> (the case's file bytes, the step's Python settings)
    -> a dict the report shows for that stage (its `decoding`); `input_errors`: exceptions that
    mean an input of this kind cannot be used (a case error, not a harness error)."""

    name: str
    ops: Mapping[str, OpSchema] = field(default_factory=dict)
    python_ops: Mapping[str, Callable[..., np.ndarray]] = field(default_factory=dict)
    case_kinds: Mapping[str, CaseKind] = field(default_factory=dict)
    stage_details: Mapping[str, Callable[[bytes, Mapping[str, Any]], dict[str, Any]]] = field(
        default_factory=dict
    )
    input_errors: tuple[type[Exception], ...] = ()


_lock = threading.Lock()


@functools.cache
def installed() -> tuple[Extension, ...]:
    """Every installed extension, by entry point name order; loaded once."""
    with _lock:
        found: list[Extension] = []
        for point in sorted(metadata.entry_points(group=GROUP), key=lambda p: p.name):
            try:
                extension = point.load()
            except Exception as e:
                raise ExtensionError(
                    f"extension {point.name!r} ({point.value}) cannot be loaded: "
                    f"{type(e).__name__}: {e}"
                ) from e
            if not isinstance(extension, Extension):
                raise ExtensionError(
                    f"extension {point.name!r} ({point.value}) is not an Extension"
                )
            found.append(extension)
        for kind in ("ops", "case_kinds"):
            owners: dict[str, str] = {}
            for extension in found:
                for name in getattr(extension, kind):
                    if name in owners:
                        raise ExtensionError(
                            f"{kind[:-1].replace('_', ' ')} {name!r} comes from two extensions: "
                            f"{owners[name]} and {extension.name}"
                        )
                    owners[name] = extension.name
        return tuple(found)


class WithExtensions(Mapping[str, V]):
    """The built-in entries, then those the installed extensions add under `field` (read on
    first access, so importing the core loads no extension)."""

    def __init__(self, built_in: Mapping[str, V], field_name: str) -> None:
        self._built_in = built_in
        self._field = field_name
        self._merged: tuple[tuple[Extension, ...], dict[str, V]] | None = None

    @property
    def _all(self) -> dict[str, V]:
        found = installed()
        if self._merged is None or self._merged[0] is not found:
            merged = dict(self._built_in)
            for extension in found:
                for name, value in getattr(extension, self._field).items():
                    if name in merged:
                        raise ExtensionError(
                            f"extension {extension.name!r} adds {name!r}, which the harness has"
                        )
                    merged[name] = value
            self._merged = (found, merged)
        return self._merged[1]

    def __getitem__(self, name: str) -> V:
        return self._all[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)


def case_kinds() -> dict[str, CaseKind]:
    """Case-list keys the extensions add, e.g. "dicom"."""
    return {k: v for e in installed() for k, v in e.case_kinds.items()}


def stage_details(op: str) -> Callable[[bytes, Mapping[str, Any]], dict[str, Any]] | None:
    """What a report says about a stage of `op` beyond its numbers, if an extension says."""
    return next((e.stage_details[op] for e in installed() if op in e.stage_details), None)


def input_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean an input cannot be used: the case's error, not the harness's."""
    return tuple(error for e in installed() for error in e.input_errors)
