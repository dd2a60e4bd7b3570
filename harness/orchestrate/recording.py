"""Recording references: the Python side run live on a suite's cases and written to a store
(golden/store.py) with its provenance, for replay where there is no TensorFlow."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.compare.budget import Terms
from harness.conversion import models
from harness.core.outputs import RuntimeOutput
from harness.golden import provenance, store
from harness.golden.keys import components_key, reference_components
from harness.orchestrate.options import DEFAULT_TIMEOUT
from harness.runtimes.python_runtime import PythonRuntime
from harness.specs import cases, extensions
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline
from harness.specs.params import PipelineSpecError
from harness.specs.spec import Pipeline


class NotRecorded(RuntimeError):
    """The Python side could not give a reference worth keeping (it timed out, or gave what
    cannot be compared): nothing is written."""


@dataclass
class Recording:
    """One (pipeline, case) of a `record` run: `status` recorded or error, with the file
    written or the reason."""

    pipeline: str
    case: str
    status: str
    detail: str
    seconds: float = 0.0


def compute(
    python: PythonRuntime, pipeline: Pipeline | CodePipeline, case: Case, timeout: float
) -> tuple[RuntimeOutput, dict[str, Terms] | None]:
    """The Python side's outputs and (for a step pipeline) float terms, as a run computes
    them. Raises NotRecorded when they are not the user's numbers (a time limit, an output
    that cannot be compared: the harness's error, not a result), PipelineSpecError when the
    case does not fit the pipeline."""
    if isinstance(pipeline, CodePipeline) and case.file is None:
        raise NotRecorded(f"case {case.id!r} has no file for the code")
    output = python.run(pipeline, case, timeout=timeout)
    failure = output.failure
    if failure is not None and failure.harness:
        raise NotRecorded(f"step {failure.stage!r}: {failure.message}")
    terms = None
    if isinstance(pipeline, Pipeline):
        terms = python.terms(pipeline, case, output, timeout=timeout)
    return output, terms


def write(
    root: Path,
    pipeline: Pipeline | CodePipeline,
    case: Case,
    output: RuntimeOutput,
    terms: dict[str, Terms] | None,
) -> Path:
    """The record of (pipeline, case) in the store at `root`, with this machine's provenance."""
    components = reference_components(pipeline, case)
    return store.write(
        root, pipeline.name, case.id, components, components_key(components), output, terms,
        provenance.describe(),
    )  # fmt: skip


def record_suite(
    pipelines: tuple[Pipeline | CodePipeline, ...],
    sources: tuple[cases.CaseSource, ...],
    root: Path,
    timeout: float | None = None,
    on_record: Callable[[Recording], None] | None = None,
) -> list[Recording]:
    """Every pipeline on every case, recorded into `root` (created). A case that cannot be
    loaded, or a pipeline the Python side cannot run on it, is an error entry naming why;
    the others are still recorded."""
    python = PythonRuntime()
    loaded: dict[str, Case | str] = {}
    for source in sources:
        try:
            loaded[source.id] = source.load()
        except (*extensions.input_errors(), PipelineSpecError, models.ConversionError) as e:
            loaded[source.id] = f"could not be loaded: {e}"
    out = []
    for pipeline in pipelines:
        limit = timeout if timeout is not None else pipeline.timeout or DEFAULT_TIMEOUT
        for source in sources:
            case = loaded[source.id]
            t0 = time.perf_counter()
            if isinstance(case, str):
                entry = Recording(pipeline.name, source.id, "error", case)
            else:
                try:
                    output, terms = compute(python, pipeline, case, limit)
                    path = write(root, pipeline, case, output, terms)
                    entry = Recording(pipeline.name, case.id, "recorded", str(path))
                except (NotRecorded, PipelineSpecError, models.ConversionError) as e:
                    entry = Recording(pipeline.name, case.id, "error", str(e))
            entry.seconds = round(time.perf_counter() - t0, 3)
            out.append(entry)
            if on_record:
                on_record(entry)
    return out
