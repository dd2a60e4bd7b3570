"""A reference store: one file per (pipeline, case), the Python side's outputs as it recorded
them, with what they depend on and where they were made.

Layout: DIR/records/<pipeline>-<hash>/<case>-<hash>.npz, each holding the stages' arrays
(`stage_<i>`), the float terms' arrays (`terms_<i>_<field>`) and `meta` (JSON as uint8):
stage names in order, composites, failures, the per-stage float terms' scalars, the record's
key and components (`orchestrate.references.reference_components`) and its provenance. A
record is found by its pipeline's name and case id; it is used only when its components are
those of the pipeline and case now, else it is stale and says which changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare.budget import Terms
from harness.core.outputs import RuntimeOutput, StageFailure

FORMAT = "tfjs-parity-record/1"
RECORDS = "records"
MODELS = "models"  # each model step's TF.js model as converted when recorded, by its folder name


class RecordError(Exception):
    """A record that cannot be used for this pipeline and case: the runs compared with it are
    errors that say why (never compared with something else)."""


class MissingRecord(RecordError):
    pass


class StaleRecord(RecordError):
    pass


class StoreError(ValueError):
    """A reference store that cannot be used at all (a usage error)."""


@dataclass
class Recorded:
    """One record as read back: `output` as PythonRuntime.run gave it, `terms` as
    PythonRuntime.terms gave them (None for a code pipeline), `provenance` where and when."""

    output: RuntimeOutput
    terms: dict[str, Terms] | None
    provenance: dict[str, Any]
    key: str
    # per model step: {"format", "converted" (the TF.js model's folder under DIR/models),
    # "facts" (ops.tf_models.model_facts)}
    models: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def record_path(root: Path, pipeline: str, case: str) -> Path:
    """Where a (pipeline, case) record is: names made safe for any file system, with a hash
    of the exact name so that two names alike once made safe stay apart."""
    return root / RECORDS / _slug(pipeline) / f"{_slug(case)}.npz"


def _slug(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "x"
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def write(
    root: Path,
    pipeline: str,
    case: str,
    components: dict[str, str],
    key: str,
    output: RuntimeOutput,
    terms: dict[str, Terms] | None,
    provenance: dict[str, Any],
    models: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write (or replace) the record, atomically: a reader sees the old one or the new one.
    `models`: Recorded.models."""
    arrays: dict[str, np.ndarray] = {}
    names = list(output.stages)
    for i, name in enumerate(names):
        arrays[f"stage_{i}"] = np.asarray(output.stages[name])
    terms_meta = None
    if terms is not None:
        terms_meta = []
        for i, (stage, t) in enumerate(terms.items()):
            entry: dict[str, Any] = {"stage": stage}
            for f in dataclasses.fields(Terms):
                value = getattr(t, f.name)
                if isinstance(value, np.ndarray):
                    arrays[f"terms_{i}_{f.name}"] = _widened32(value)
                    entry[f.name] = {"array": f"terms_{i}_{f.name}"}
                else:
                    entry[f.name] = value
            terms_meta.append(entry)
    meta = {
        "format": FORMAT,
        "pipeline": pipeline,
        "case": case,
        "key": key,
        "components": components,
        "stages": names,
        "composites": output.composites,
        "failures": [dataclasses.asdict(f) for f in output.failures.values()],
        "timings": output.timings,
        "terms": terms_meta,
        "provenance": provenance,
        "models": models or {},
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=_plain).encode(), np.uint8)
    path = record_path(root, pipeline, case)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".recording-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _widened32(a: np.ndarray) -> np.ndarray:
    """A float64 term (a magnitude or a position error: the size of a bound) in float32,
    rounded away from zero, so the budget read back is never below the one computed; half
    the bytes of a model's every layer."""
    if a.dtype != np.float64:
        return a
    with np.errstate(over="ignore"):
        b = a.astype(np.float32)
    short = np.abs(b.astype(np.float64)) < np.abs(a)
    b[short] = np.nextafter(b[short], np.copysign(np.float32(np.inf), b[short]))
    return b


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def read(root: Path, pipeline: str, case: str, components: dict[str, str]) -> Recorded:
    """The record of (pipeline, case), if its components are `components`. Raises
    MissingRecord (none), StaleRecord (what changed since it was recorded), RecordError (a
    record that cannot be read)."""
    path = record_path(root, pipeline, case)
    if not path.is_file():
        raise MissingRecord(
            f"no recorded reference for pipeline {pipeline!r}, case {case!r} in {root}"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes())
            if meta.get("format") != FORMAT:
                raise RecordError(f"{path}: not a record of format {FORMAT}")
            changed = _changed(meta["components"], components)
            if changed:
                when = meta.get("provenance", {}).get("recorded", "an unknown date")
                raise StaleRecord(
                    f"the recorded reference for pipeline {pipeline!r}, case {case!r} is "
                    f"stale: {'; '.join(changed)} since it was recorded ({when})"
                )
            stages = {name: z[f"stage_{i}"] for i, name in enumerate(meta["stages"])}
            terms = None
            if meta["terms"] is not None:
                terms = {e["stage"]: _terms(e, z) for e in meta["terms"]}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise RecordError(f"{path}: cannot be read as a record ({type(e).__name__}: {e})") from e
    failures = {f["stage"]: StageFailure(**f) for f in meta["failures"]}
    output = RuntimeOutput(
        stages, failures, dict(meta["timings"]), composites=dict(meta["composites"])
    )
    return Recorded(
        output, terms, dict(meta["provenance"]), meta["key"], dict(meta.get("models", {}))
    )


def _terms(entry: dict[str, Any], z: Any) -> Terms:
    values = {
        f.name: (z[entry[f.name]["array"]] if isinstance(entry[f.name], dict) else entry[f.name])
        for f in dataclasses.fields(Terms)
        if f.name in entry
    }
    return Terms(**values)


def _changed(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """In the user's terms, what differs: a part changed, added or gone."""
    out = [f"{name} changed" for name in now if name in recorded and recorded[name] != now[name]]
    out += [f"{name} is new" for name in now if name not in recorded]
    out += [f"{name} is gone" for name in recorded if name not in now]
    return out


def recorded_pairs(root: Path) -> list[tuple[str, str, Path]]:
    """Every record in the store: (pipeline, case, file)."""
    out = []
    for path in sorted((root / RECORDS).glob("*/*.npz")):
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes())
            out.append((meta["pipeline"], meta["case"], path))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            continue
    return out


def check_store(root: Path) -> None:
    """A store given to replay from must be a folder that has records: a usage error, said
    before anything runs."""
    if not root.is_dir():
        raise StoreError(f"--references {root}: no such folder (record one: tfjs-parity record)")
    if not (root / RECORDS).is_dir():
        raise StoreError(
            f"--references {root}: no records there (a store has a {RECORDS}/ folder; "
            "record one with tfjs-parity record)"
        )


def keep_model(root: Path, converted: Path) -> str:
    """A converted TF.js model's folder copied into the store (once per content: the folder's
    name is its content key), so a replay serves it without converting; its name."""
    target = root / MODELS / converted.name
    if not (target / "model.json").is_file():
        _copy_folder(converted, target)
    return converted.name


def restore_model(root: Path, name: str, cache_models: Path) -> Path | None:
    """The store's copy of a converted model put where the converter's cache has it (what it
    finds there it does not convert again), unless it is there already; None when the store
    lacks it."""
    source = root / MODELS / name
    target = cache_models / name
    if (target / "model.json").is_file() or not (source / "model.json").is_file():
        return target if (target / "model.json").is_file() else None
    _copy_folder(source, target)
    return target


def _copy_folder(source: Path, target: Path) -> None:
    """Atomically: a reader sees the whole folder or none (a concurrent copy's finished one
    wins)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".copying-", dir=target.parent))
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "model.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
