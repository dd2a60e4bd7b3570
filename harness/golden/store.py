"""A reference store: one file per (pipeline, case), the Python side's outputs as it recorded
them, with what they depend on and where they were made.

Layout: DIR/records/<pipeline>-<hash>/<case>-<hash>/<key>.npz, each holding the stages'
arrays (`stage_<i>`), the float terms' arrays (`terms_<i>_<field>`) and `meta` (JSON as uint8):
stage names in order, composites, failures, the per-stage float terms' scalars, the record's
key and components (`golden.keys.reference_components`), its model steps' facts and its
provenance. A record is found by its key, whatever the pipeline and case are called (two
pipelines whose Python sides are alike share one; two cases named alike in two folders are
two); with no record of that key, the records of the same pipeline and case name say what
changed (stale), and with none of those it is missing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare.budget import Terms
from harness.core import content, folders
from harness.core.outputs import RuntimeOutput, StageFailure
from harness.golden.keys import components_key

FORMAT = "tfjs-parity-record/1"
RECORDS = "records"


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


def record_folder(root: Path, pipeline: str, case: str) -> Path:
    """Where a (pipeline, case)'s records are: names made safe for any file system, with a
    hash of the exact name so that two names alike once made safe stay apart."""
    return root / RECORDS / content.slug(pipeline) / content.slug(case)


def record_path(root: Path, pipeline: str, case: str, key: str) -> Path:
    return record_folder(root, pipeline, case) / f"{key}.npz"


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
    path = record_path(root, pipeline, case, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".recording-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o666 & ~folders.UMASK)  # as a plain file would be, not mkstemp's 0600
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
    """The record whose key is that of `components`. Raises MissingRecord (none, nor any of
    this pipeline and case), StaleRecord (what changed since the closest record of this
    pipeline and case was made), RecordError (a record that cannot be read)."""
    key = components_key(components)
    found = sorted((root / RECORDS).glob(f"*/*/{key}.npz"))
    if found:
        return _load(found[0], key)
    earlier = []
    for path in sorted(record_folder(root, pipeline, case).glob("*.npz")):
        try:
            earlier.append(_meta(path))
        except RecordError:
            continue
    if not earlier:
        raise MissingRecord(
            f"no recorded reference for pipeline {pipeline!r}, case {case!r} in {root}"
        )
    changed, closest = min(
        ((_changed(m["components"], components), m) for m in earlier), key=lambda c: len(c[0])
    )
    when = closest.get("provenance", {}).get("recorded", "an unknown date")
    said = "; ".join(changed) or "its key is computed otherwise (another version of tfjs-parity)"
    raise StaleRecord(
        f"the recorded reference for pipeline {pipeline!r}, case {case!r} is stale: {said} "
        f"since it was recorded ({when})"
    )


def _meta(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return _checked_meta(path, z)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise RecordError(f"{path}: cannot be read as a record ({type(e).__name__}: {e})") from e


def _checked_meta(path: Path, z: Any) -> dict[str, Any]:
    """The `meta` of the open record `z`, if it is one of this format with its components."""
    meta = json.loads(z["meta"].tobytes())
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RecordError(f"{path}: not a record of format {FORMAT}")
    if not isinstance(meta.get("components"), dict):
        raise RecordError(f"{path}: a record without its components")
    return meta


def _load(path: Path, key: str) -> Recorded:
    """The record at `path`, whole; RecordError naming the file for anything that is not
    a record of this format (another tool's, a forged or truncated one)."""
    try:
        with np.load(path, allow_pickle=False) as z:  # opened once: meta, stages and terms
            meta = _checked_meta(path, z)
            if meta.get("key") != key:
                raise RecordError(f"{path}: its key is not its file's name")
            stages = {name: z[f"stage_{i}"] for i, name in enumerate(meta["stages"])}
            terms = None
            if meta["terms"] is not None:
                terms = {e["stage"]: _terms(e, z) for e in meta["terms"]}
        failures = {f["stage"]: StageFailure(**f) for f in meta["failures"]}
        output = RuntimeOutput(
            stages, failures, dict(meta["timings"]), composites=dict(meta["composites"])
        )
        provenance = meta["provenance"]
        models = meta.get("models", {})
        if not isinstance(provenance, dict) or not isinstance(models, dict):
            raise TypeError("provenance and models are objects")
        return Recorded(output, terms, dict(provenance), key, dict(models))
    except RecordError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as e:
        raise RecordError(f"{path}: cannot be read as a record ({type(e).__name__}: {e})") from e


def prune(
    root: Path, pipeline: str, case: str, keep: set[Path], before: float = float("inf")
) -> None:
    """Remove the records of (pipeline, case) other than `keep` written before `before` (a
    time.time()): what one `record` run wrote replaces what earlier runs wrote for the same
    names, and not what a run at the same time wrote."""
    for path in record_folder(root, pipeline, case).glob("*.npz"):
        try:
            if path not in keep and path.stat().st_mtime < before:
                path.unlink(missing_ok=True)
        except OSError:
            continue


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
    out += [f"{name} was added" for name in now if name not in recorded]
    out += [f"{name} was removed" for name in recorded if name not in now]
    return out


def check_store(root: Path) -> None:
    """A store given to replay from must be a folder that has records: a usage error, said
    before anything runs."""
    if root.exists() and not root.is_dir():
        raise StoreError(f"--references {root}: a file, not a store's folder")
    if not root.is_dir():
        raise StoreError(f"--references {root}: no such folder (record one: tfjs-parity record)")
    if not (root / RECORDS).is_dir():
        raise StoreError(
            f"--references {root}: no records there (a store has a {RECORDS}/ folder; "
            "record one with tfjs-parity record)"
        )
