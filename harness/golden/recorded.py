"""A recorded reference as a runtime: the Python side's outputs read from a store instead of
computed, with neither TensorFlow nor the user's Python code imported."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from harness.compare.budget import Terms
from harness.conversion import models
from harness.core import tf_runtime
from harness.core.outputs import RuntimeOutput
from harness.golden import models as kept_models
from harness.golden import store
from harness.golden.keys import reference_components, reference_key
from harness.ops.tf_models import install_facts
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline
from harness.specs.spec import Pipeline
from harness.specs.variants import Side


class RecordedRuntime:
    """The store at `root` (store.py), in place of PythonRuntime: `run` gives a case's
    recorded stages, `terms` its recorded float terms. Raises store.RecordError (missing,
    stale or unreadable: the message names the pipeline, the case and what changed). Records
    read are remembered by their provenance, for the report. Thread-safe."""

    side = Side(None, None)
    precision: str | None = None

    def __init__(self, root: Path) -> None:
        self.root = root
        self._provenance: dict[str, dict[str, Any]] = {}
        self._used: set[tuple[str, str]] = set()
        # terms read with a record's stages, until its budgets ask for them (read once, not twice)
        self._terms: dict[str, dict[str, Terms]] = {}
        self._lock = threading.Lock()

    def open(self) -> None:
        """Raises store.StoreError when `root` is no store."""
        store.check_store(self.root)

    def read(self, pipeline: Pipeline | CodePipeline, case: Case) -> store.Recorded:
        recorded = store.read(
            self.root, pipeline.name, case.id, reference_components(pipeline, case)
        )
        with self._lock:
            self._used.add((pipeline.name, case.id))
            # one entry per machine and set-up, with the dates of its first and last records
            made = {k: v for k, v in recorded.provenance.items() if k != "recorded"}
            when = str(recorded.provenance.get("recorded", ""))
            entry = self._provenance.setdefault(
                json.dumps(made, sort_keys=True),
                {**recorded.provenance, "recorded_last": when, "records": 0},
            )
            entry["recorded"] = min(str(entry.get("recorded", when)), when)
            entry["recorded_last"] = max(entry["recorded_last"], when)
            entry["records"] += 1
            if recorded.terms is not None:
                self._terms[recorded.key] = recorded.terms
        return recorded

    def run(
        self, pipeline: Pipeline | CodePipeline, case: Case, *, timeout: float, repeat: bool = False
    ) -> RuntimeOutput:
        return self.read(pipeline, case).output

    def run_isolated(
        self, pipeline: Pipeline, case: Case, inputs: RuntimeOutput, *, timeout: float
    ) -> RuntimeOutput | None:
        return None

    def release(self, out: RuntimeOutput) -> None:
        """Recorded arrays are plain numpy."""

    def terms(self, pipeline: Pipeline, case: Case) -> dict[str, Terms]:
        """The case's float terms as recorded (PythonRuntime.terms on the recording machine)."""
        with self._lock:
            kept = self._terms.pop(reference_key(pipeline, case), None)
        return kept if kept is not None else self.read(pipeline, case).terms or {}

    def provenance(self) -> list[dict[str, Any]]:
        """Where and when the records read so far were made: one entry per distinct machine and
        set-up, with `recorded` (its earliest record), `recorded_last` and `records` (how
        many records read were made there)."""
        with self._lock:
            return list(self._provenance.values())

    def used(self) -> int:
        with self._lock:
            return len(self._used)


def install_models(pipeline: Pipeline | CodePipeline, read: store.Recorded, root: Path) -> None:
    """Each model step's converted TF.js model put back in the converter's cache, and its
    structure's facts installed for the model's path here: nothing asks TensorFlow. Raises
    store.RecordError when the record lacks them and TensorFlow cannot be imported."""
    if not isinstance(pipeline, Pipeline):
        return
    for step in pipeline.steps:
        if step.op != "model":
            continue
        kept = read.models.get(step.name)
        path, fmt = step.python["path"], step.python["format"]
        if kept is None or kept.get("format") != fmt:
            if tf_runtime.importable():
                continue  # read from the model with TensorFlow, as a live run does
            raise store.RecordError(
                f"model step {step.name!r}: its record has no facts of the model's structure, "
                "which a replay without TensorFlow needs"
            )
        restored = kept_models.restore_model(
            root, kept["converted"], kept.get("sha256"), models.CACHE / "models"
        )
        if restored is None and not tf_runtime.importable():
            raise store.RecordError(
                f"model step {step.name!r}: the store lacks its converted model "
                f"{kept_models.MODELS}/{kept['converted']}, and TensorFlow cannot convert it here"
            )
        install_facts(path, fmt, kept["facts"])
