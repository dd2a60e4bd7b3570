"""Recording references: the Python side run live on a suite's cases and written to a store
(golden/store.py) with its provenance, for replay where there is no TensorFlow."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare.budget import Terms
from harness.conversion import converter, models
from harness.core.outputs import STREAM_BYTES, RuntimeOutput
from harness.golden import models as kept_models
from harness.golden import provenance, store
from harness.golden.keys import components_key, reference_components
from harness.ops.tf_models import model_facts
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


@dataclass
class Computed:
    """What a record holds: the Python side's outputs, (a step pipeline's) float terms, and
    per model step its format, its converted TF.js model's folder and its structure's facts
    (tf_models.model_facts), which a replay reads instead of asking TensorFlow."""

    output: RuntimeOutput
    terms: dict[str, Terms] | None
    models: dict[str, tuple[str, Path, dict[str, Any]]] = field(default_factory=dict)


def compute(
    python: PythonRuntime, pipeline: Pipeline | CodePipeline, case: Case, timeout: float
) -> Computed:
    """The Python side's outputs and (for a step pipeline) float terms, as a run computes
    them, and its model steps' facts. Raises NotRecorded when they are not the user's numbers
    (a time limit, an output that cannot be compared: the harness's error, not a result),
    PipelineSpecError when the case does not fit the pipeline, ConversionError for a model
    that cannot be converted."""
    if isinstance(pipeline, CodePipeline) and case.file is None:
        raise NotRecorded(f"case {case.id!r} has no file for the code")
    output = python.run(pipeline, case, timeout=timeout)
    failure = output.failure
    if failure is not None:  # a reference that stops short is no reference to keep
        raise NotRecorded(f"the Python side failed at step {failure.stage!r}: {failure.message}")
    computed = Computed(output, None)
    if isinstance(pipeline, Pipeline):
        computed.terms = python.terms(pipeline, case, output, timeout=timeout)
        unbudgeted = _unbudgeted(pipeline, output, computed.terms)
        if unbudgeted:  # a replay would judge them by their tolerance policy, not their budget
            raise NotRecorded(
                f"the float budget of step(s) {', '.join(map(repr, unbudgeted))} could not be "
                f"computed within the time limit ({timeout:g} s: the op is re-run for it); "
                "give it more time (--timeout)"
            )
        for step in pipeline.steps:
            if step.op == "model":
                path, fmt = step.python["path"], step.python["format"]
                converted = converter.convert(Path(path), fmt)
                computed.models[step.name] = (fmt, converted, model_facts(path, fmt))
    return computed


def _unbudgeted(pipeline: Pipeline, output: RuntimeOutput, terms: dict[str, Terms]) -> list[str]:
    """Steps held whole (budgets are derived only up to STREAM_BYTES) that got no float
    terms: a custom op whose re-runs for its budget passed the time limit."""
    out = []
    for step, previous in zip(pipeline.steps, pipeline.stage_names, strict=False):
        y, x = output.stages.get(step.name), output.stages.get(previous)
        small = y is not None and x is not None and max(y.nbytes, x.nbytes) <= STREAM_BYTES
        if step.op != "model" and small and step.name not in terms:
            out.append(step.name)
    return out


def write(root: Path, pipeline: Pipeline | CodePipeline, case: Case, computed: Computed) -> Path:
    """The record of (pipeline, case) in the store at `root`, with this machine's provenance;
    each model step's converted model kept in the store beside it."""
    components = reference_components(pipeline, case)
    models = {}
    for name, (fmt, converted, facts) in computed.models.items():
        folder, sha = kept_models.keep_model(root, converted)
        models[name] = {"format": fmt, "converted": folder, "sha256": sha, "facts": facts}
    return store.write(
        root, pipeline.name, case.id, components, components_key(components), computed.output,
        computed.terms, provenance.describe(), models,
    )  # fmt: skip


def record_suite(
    pipelines: tuple[Pipeline | CodePipeline, ...],
    sources: tuple[cases.CaseSource, ...],
    root: Path,
    timeout: float | None = None,
    on_record: Callable[[Recording], None] | None = None,
    out: list[Recording] | None = None,
) -> list[Recording]:
    """Every pipeline on every case, recorded into `root` (created). A case that cannot be
    loaded, a pipeline the Python side cannot run on it (or fails on), or a record that cannot
    be written, is an error entry naming why; the others are still recorded. The records this
    run writes replace earlier ones of the same pipeline and case names."""
    python = PythonRuntime()
    loaded: dict[str, Case | str] = {}
    for source in sources:
        try:
            loaded[source.id] = source.load()
        except (*extensions.input_errors(), PipelineSpecError, models.ConversionError) as e:
            loaded[source.id] = f"could not be loaded: {e}"
    out = out if out is not None else []  # the caller's, to keep what was done if stopped
    written: dict[tuple[str, str], set[Path]] = {}
    started = time.time()
    for pipeline in pipelines:
        limit = timeout if timeout is not None else pipeline.timeout or DEFAULT_TIMEOUT
        for source in sources:
            case = loaded[source.id]
            t0 = time.perf_counter()
            if isinstance(case, str):
                entry = Recording(pipeline.name, source.id, "error", case)
            else:
                try:
                    path = write(root, pipeline, case, compute(python, pipeline, case, limit))
                    written.setdefault((pipeline.name, case.id), set()).add(path)
                    entry = Recording(pipeline.name, case.id, "recorded", str(path))
                except (NotRecorded, PipelineSpecError, models.ConversionError) as e:
                    entry = Recording(pipeline.name, case.id, "error", str(e))
                except OSError as e:
                    entry = Recording(
                        pipeline.name, case.id, "error", f"cannot write the record: {e}"
                    )
            entry.seconds = round(time.perf_counter() - t0, 3)
            out.append(entry)
            if on_record:
                on_record(entry)
    for (pipeline_name, case_id), paths in written.items():  # this run's replace earlier ones
        store.prune(root, pipeline_name, case_id, paths, started)
    return out
