"""Failure tensors: each failing stage's arrays (the reference's, the candidate's end to end and
alone, and what the stage was fed) kept as .npy files beside the report and named in it, so
someone can look at them, or attach them to an upstream bug report."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.core import content
from harness.core.outputs import RuntimeOutput
from harness.core.results import RunResult, StageResult
from harness.specs.cases import Case
from harness.specs.spec import Pipeline
from harness.specs.variants import parse_variant

KEEP_CHOICES = ("failing", "all", "none")
DEFAULT_KEEP_MB = 512.0  # per session: a model's every layer on every backend would be GBs
TENSORS = "tensors"  # the folder under the report's


class TensorKeeper:
    """Writes under `root`/tensors/ what `keep` asks for ("failing": the stages and model
    layers whose verdict or own verdict fails, in a run that does not pass; "all": every
    compared one), until `cap_mb` megabytes have been written in this session; a stage past
    the cap, or too large to hold (read slice by slice), says so instead of naming files.
    Thread-safe (runs of a case keep in parallel)."""

    def __init__(self, root: Path, keep: str = "failing", cap_mb: float = DEFAULT_KEEP_MB) -> None:
        if keep not in KEEP_CHOICES:
            raise ValueError(f"keep tensors {keep!r}: one of {', '.join(KEEP_CHOICES)}")
        if not cap_mb >= 0:
            raise ValueError(f"keep tensors cap {cap_mb!r}: a number of megabytes >= 0")
        self.root = root
        self.keep = keep
        self.cap_bytes = cap_mb * (1 << 20)
        self.written = 0
        self._lock = threading.Lock()

    def keep_run(
        self,
        pipeline: str | tuple[str, str | None],
        case: str,
        result: RunResult,
        reference: RuntimeOutput,
        chained: RuntimeOutput,
        isolated: RuntimeOutput | None,
        order: Sequence[str],
        steps: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        """Each chosen stage of `result`: its files, named in `stage.tensors` (paths relative
        to `root`): reference, candidate (end to end), isolated (the candidate's step fed the
        reference's input), input (that input: the reference's previous stage), and `step`
        (JSON: the step as each side ran it, `step_descriptions`), which `tfjs-parity repro`
        reads."""
        if self.keep == "none" or (self.keep == "failing" and result.passed):
            return  # a run that passes (its divergences as declared) has no failing stage
        # by the pipeline's name and file: two pipelines called alike keep apart
        name, source = pipeline if isinstance(pipeline, tuple) else (pipeline, None)
        steps = steps or {}
        where = _slug(name) if source is None else _slug(name, f"{name}\0{source}")
        folder = Path(TENSORS) / where / _slug(case) / _slug(f"{result.browser}-{result.backend}")
        for stage in result.stages:
            previous = _previous(order, stage.name)
            try:
                self._stage(folder, stage, stage.name, previous, reference, chained, isolated)
                if stage.tensors and "not_kept" not in stage.tensors and stage.name in steps:
                    relative = folder / f"{_slug(stage.name)}.step.json"
                    (self.root / relative).write_text(json.dumps(steps[stage.name], indent=2))
                    stage.tensors["step"] = relative.as_posix()
                for layer in stage.layers:
                    path = f"{stage.name}/{layer.name}"
                    self._stage(folder, layer, path, None, reference, chained, isolated)
            except OSError as e:  # the disk, not the user's numbers: the verdict stands
                stage.tensors = {"not_kept": f"could not be written under {self.root}: {e}"}

    def _stage(
        self,
        folder: Path,
        stage: StageResult,
        name: str,
        previous: str | None,
        reference: RuntimeOutput,
        chained: RuntimeOutput,
        isolated: RuntimeOutput | None,
    ) -> None:
        if stage.chained is None and stage.isolated is None and stage.verdict != "fail":
            return  # not compared (a shape or dtype that differs is a failure: kept)
        if self.keep == "failing" and stage.verdict == "pass" and stage.own_verdict != "fail":
            return
        wanted: dict[str, Mapping[str, object] | None] = {
            "reference": reference.stages,
            "candidate": chained.stages,
            "isolated": isolated.stages if isolated is not None else None,
        }
        arrays: dict[str, np.ndarray] = {}
        for role, stages in wanted.items():
            value = stages.get(name) if stages is not None else None
            if value is None:
                continue
            if not isinstance(value, np.ndarray):  # a stage read slice by slice
                stage.tensors = {"not_kept": "larger than the harness holds whole (16 MB)"}
                return
            arrays[role] = value
        if previous is not None and isinstance(reference.stages.get(previous), np.ndarray):
            arrays["input"] = reference.stages[previous]
        if not arrays:
            if stage.parts:
                stage.tensors = {"not_kept": "several tensors: each part is kept as its own"}
            return
        size = sum(a.nbytes for a in arrays.values())
        with self._lock:
            if self.written + size > self.cap_bytes:
                stage.tensors = {
                    "not_kept": f"the cap of {self.cap_bytes / (1 << 20):g} MB of kept tensors "
                    "for this session's runs was reached (--keep-tensors-mb)"
                }
                return
            self.written += size
        (self.root / folder).mkdir(parents=True, exist_ok=True)
        kept = {}
        for role, a in arrays.items():
            relative = folder / f"{_slug(name)}.{role}.npy"
            np.save(self.root / relative, a, allow_pickle=False)
            kept[role] = relative.as_posix()
        stage.tensors = kept


def step_descriptions(
    pipeline: Pipeline, case: Case, js_steps: Sequence[dict[str, Any]], variant: str
) -> dict[str, dict[str, Any]]:
    """Per step, what each side ran (JSON): the op, the page's settings (case values filled
    in), the Python settings, a custom op's files, the backend and its flags."""
    parsed = parse_variant(variant)
    base = Path(pipeline.source).resolve().parent if pipeline.source else Path.cwd()
    out = {}
    for step, js in zip(pipeline.steps, js_steps, strict=True):
        custom = None
        if step.custom is not None:
            target = step.custom.python.rpartition(":")[0]
            python_file = base / target if target.endswith(".py") else None
            custom = {
                "js_module": str(step.custom.js_module),
                "js_export": step.custom.js_export,
                "js_sha": _sha(step.custom.js_module),
                "serve": [str(p) for p in step.custom.serve],
                "python": step.custom.python,
                "python_base": str(base),
                "python_sha": _sha(python_file) if python_file else None,
            }
        out[step.name] = {
            "stage": step.name,
            "op": step.op,
            "js": js.get("params", {}),
            "python": _jsonable(step.settings("python", case.params)),
            "custom": custom,
            "backend": parsed.backend,
            "variant": variant,
            "flags": parsed.flags,
        }
    return out


def _sha(path: Path) -> str | None:
    """A file's sha256 as the run saw it, so a repro pack made later can tell it changed."""
    try:
        return content.file_sha(path)
    except OSError:
        return None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _previous(order: Sequence[str], name: str) -> str | None:
    """The stage before `name` in the run's order: what its step was fed."""
    if name not in order:
        return None
    i = list(order).index(name)
    return order[i - 1] if i > 0 else None


def _slug(name: str, identity: str | None = None) -> str:
    return content.slug(name, identity, digits=8)
