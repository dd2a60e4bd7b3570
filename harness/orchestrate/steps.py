"""One step pipeline's run judged: every stage (and model layer) compared chained and isolated,
folded into its model, its coverage and classifier outputs, explained, into the run's status."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.compare.arbiter import against_python
from harness.compare.budget import Terms
from harness.compare.classifier import classifier_outputs
from harness.compare.expectations import judge
from harness.compare.gaps import unjudged
from harness.compare.parts import coverage, fold_layers
from harness.compare.policy import Tolerance
from harness.compare.stages import compare_run
from harness.compare.tolerance import policy
from harness.core.outputs import RuntimeOutput
from harness.core.results import RunResult
from harness.core.timings import Timings
from harness.diagnose.run import diagnose_steps
from harness.diagnose.settings import hints_for
from harness.ops.keras_layers import unisolated
from harness.ops.tf_models import ends_in_softmax, model_layer_ops, model_parts
from harness.orchestrate.options import RunOptions
from harness.runtimes.pulled import PulledStages
from harness.specs import extensions
from harness.specs.cases import Case
from harness.specs.spec import Pipeline


class HintCache:
    """Hints by (reference, stage, the JS output's bytes, policy, precision): backends that
    agree with each other get the same hint for free. Thread-safe."""

    def __init__(self) -> None:
        self._hints: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(
        self, key: tuple[str, ...], compute: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        with self._lock:
            if key not in self._hints:
                self._hints[key] = compute()
            return self._hints[key]


@dataclasses.dataclass
class Judging:
    """What judging a run needs from its session."""

    options: RunOptions
    timings: Timings
    hints: HintCache
    reference_key: str
    budgets: Mapping[str, Terms]
    explain: bool  # the reference is Python: hints and diagnoses explain JS against its ops
    # a page is the reference: Python's outputs of the case and that page's precision, to tell
    # which of the two pages Python agrees with where they first diverge
    python: RuntimeOutput | None = None
    reference_precision: str | None = None


def judge_steps(
    j: Judging,
    result: RunResult,
    pipeline: Pipeline,
    case: Case,
    reference: RuntimeOutput,
    candidate: RuntimeOutput,
    isolated: RuntimeOutput | None,
    precision: str,
) -> None:
    """Every stage (and layer) chained and isolated, folded, classified, hinted, into
    `result`; a page's stages are pulled as they are compared. `precision`: the lower of the
    two sides' ("float16" when either stores values in float16)."""
    variant = result.backend
    if candidate.repeat is not None:
        result.deterministic, result.repeat_max_abs = candidate.repeat
    pulled = [o.stages for o in (candidate, isolated) if o and isinstance(o.stages, PulledStages)]
    before = sum(p.seconds for p in pulled)
    with j.timings.phase("compare"):
        steps = {s.name: s.tolerance for s in pipeline.steps}

        def policy_for(stage: str, dtype: np.dtype) -> Tolerance:
            return policy(
                dtype, precision, stage, variant, steps.get(stage), j.options.overrides,
                j.options.side.variant,
            )  # fmt: skip

        order = stage_order(pipeline.stage_names, reference)
        result.stages, result.first_divergence = compare_run(
            order, reference, candidate, policy_for, isolated, precision, j.budgets
        )
        pull_seconds = sum(p.seconds for p in pulled) - before
        j.timings.add("compare", -pull_seconds)  # moving bytes is transfer, not compare
    j.timings.add("transfer", pull_seconds)
    _fold_models(j, result, pipeline)
    _classifier_outputs(result, pipeline, reference, candidate)
    if j.python is not None and result.first_divergence:
        _against_python(j, result, pipeline, j.python, reference, candidate)
    if j.explain:
        _decoding(result, pipeline, case)
    if j.options.hints and j.explain and j.options.references is None:
        with j.timings.phase("hints"):
            if isolated is not None:
                _add_hints(j, result, pipeline, case, reference, isolated, policy_for)
            diagnose_steps(result, pipeline, case, reference, candidate, isolated)
    _status(result, reference, candidate, isolated)
    # declared divergences are declared against Python; between two pages every stage is judged
    judge(result, pipeline.expect if j.explain else {})


def stage_order(stage_names: Sequence[str], reference: RuntimeOutput) -> tuple[str, ...]:
    """The reference's order: pipeline stages with each model's layers before the model, a
    stage that is several tensors right after the last of its parts, then the stages the
    reference did not reach."""
    order: list[str] = []
    after = {p: name for name, parts in reference.composites.items() for p in parts.values()}
    pending = {name: len(parts) for name, parts in reference.composites.items()}
    for name in reference.stages:
        order.append(name)
        owner = after.get(name)
        if owner is not None:
            pending[owner] -= 1
            if pending[owner] == 0:
                order.append(owner)
    order += [n for n in reference.composites if n not in order]
    return (*order, *(n for n in stage_names if n not in order))


def _fold_models(j: Judging, result: RunResult, pipeline: Pipeline) -> None:
    """A model's layers under its stage, and the share of them compared."""
    layer_ops = {
        s.name: model_layer_ops(s.python["path"], s.python["format"])
        for s in pipeline.steps
        if s.op == "model"
    }
    result.stages, result.first_divergence, result.first_divergent_layer = fold_layers(
        result.stages, result.first_divergence, layer_ops
    )
    minimum = j.options.min_coverage
    minimum = minimum if minimum is not None else pipeline.min_coverage
    for stage in result.stages:
        step = next((s for s in pipeline.steps if s.name == stage.name), None)
        if step is None or step.op != "model":
            continue
        fmt = step.python["format"]
        alone = unisolated(step.python["path"]) if fmt == "layers" else {}
        for layer in stage.layers:
            if layer.name in alone and layer.own_verdict is None:
                layer.isolated_message = f"not run alone: {alone[layer.name]}"
        stage.coverage = coverage(
            stage, model_parts(step.python["path"], fmt), "layers" if fmt == "layers" else "nodes"
        )
        if minimum is not None and stage.coverage["share"] < minimum:
            result.below_coverage.append(
                f"{stage.name}: {stage.coverage['compared']} of "
                f"{stage.coverage['total']} {stage.coverage['kind']} compared "
                f"({stage.coverage['share']:.0%}), below the minimum {minimum:.0%}"
            )


def _against_python(
    j: Judging,
    result: RunResult,
    pipeline: Pipeline,
    python: RuntimeOutput,
    reference: RuntimeOutput,
    candidate: RuntimeOutput,
) -> None:
    """Where two pages first diverge (the layer, in a model), each page against Python, end
    to end, under the policy each page gets against Python (compare/arbiter.py)."""
    name = result.first_divergence
    if result.first_divergent_layer:
        name = f"{name}/{result.first_divergent_layer}"
    steps = {s.name: s.tolerance for s in pipeline.steps}

    def policy_of(variant: str, precision: str | None) -> Callable[[str, np.dtype], Tolerance]:
        return lambda stage, dtype: policy(
            dtype, precision or "float32", stage, variant, steps.get(stage), j.options.overrides
        )

    assert name is not None and j.options.side.variant is not None  # a page is the reference
    result.against_python = against_python(
        name,
        python.stages.get(name),
        reference.stages.get(name),
        candidate.stages.get(name),
        policy_of(j.options.side.variant, j.reference_precision),
        policy_of(result.backend, result.precision),
    )


def _classifier_outputs(
    result: RunResult, pipeline: Pipeline, reference: RuntimeOutput, candidate: RuntimeOutput
) -> None:
    models_ = {s.name: s.python for s in pipeline.steps if s.op == "model"}
    for stage in result.stages:
        js = candidate.stages.get(stage.name) if stage.name in models_ else None
        if isinstance(js, np.ndarray) and stage.name in reference.stages:
            model = models_[stage.name]
            stage.outputs = classifier_outputs(
                reference.stages[stage.name], js, ends_in_softmax(model["path"], model["format"])
            )


def _decoding(result: RunResult, pipeline: Pipeline, case: Case) -> None:
    """What an extension says about a stage of one of its ops (a DICOM decode stage: the
    file's transfer syntax and the decoder each side used for it)."""
    for stage in result.stages:
        step = next((s for s in pipeline.steps if s.name == stage.name), None)
        details = extensions.stage_details(step.op) if step is not None else None
        if details is not None and case.file is not None:
            stage.decoding = details(case.file.tobytes(), step.python)


def _status(
    result: RunResult,
    reference: RuntimeOutput,
    candidate: RuntimeOutput,
    isolated: RuntimeOutput | None,
) -> None:
    """An error when a side failed, a page died or hung, or a stage could not be judged."""
    failures = [f for f in (reference.failure, candidate.failure) if f]
    if candidate.repeat_failure is not None:
        hung = candidate.repeat_failure
        failures.insert(0, dataclasses.replace(hung, stage=f"{hung.stage} (repeat pass)"))
    lost = isolated.failure if isolated is not None else None
    if lost is not None and lost.harness:  # the page died or hung in the isolated run:
        # that first (the chained stages it held, lost with it, fail to be read after)
        result.status = "error"
        result.reason = "; ".join(
            [f"{lost.stage} (isolated run): {lost.message}"]
            + [f"{f.stage}: {f.message}" for f in failures]
        )
    elif failures:
        result.status = "error"
        result.reason = "; ".join(f"{f.stage}: {f.message}" for f in failures)
    elif problem := unjudged(result.stages):
        result.status, result.reason = "error", problem


def _add_hints(
    j: Judging,
    result: RunResult,
    pipeline: Pipeline,
    case: Case,
    reference: RuntimeOutput,
    isolated: RuntimeOutput,
    policy_for: Callable[[str, np.dtype], Tolerance],
) -> None:
    """Hints for each stage whose own error is semantic."""
    steps = {
        s.name: (s, prev) for s, prev in zip(pipeline.steps, pipeline.stage_names, strict=False)
    }
    for stage in result.stages:
        if stage.own_error_class != "semantic" or stage.name not in steps:
            continue
        own = isolated.stages.get(stage.name)  # pulled from the page again: only when needed
        if not isinstance(own, np.ndarray):  # missing, or too large to hold (a streamed stage)
            continue
        step, previous = steps[stage.name]
        if previous not in reference.stages:
            continue
        tolerance = policy_for(stage.name, own.dtype)
        key = (
            j.reference_key,
            stage.name,
            hashlib.sha256(own.tobytes()).hexdigest(),
            str(tolerance),
            result.precision or "",
        )
        x = reference.stages[previous]
        stage.hints = j.hints.get(
            key,
            lambda step=step, x=x, own=own, tolerance=tolerance: hints_for(
                step, case.params, x, own, tolerance, result.precision or "float32"
            ),
        )
