"""Explanations for a compared run: which stages get one, and what the harness knows of each
(its kind, op, Python input, the case's file, a Keras layer's weights) to test the catalogue's
entries on (diagnose/known/, diagnose/explain.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from harness.core.outputs import RuntimeOutput
from harness.core.results import RunResult, StageResult
from harness.diagnose.explain import diagnose, not_held
from harness.diagnose.known import LayerFacts, Seen
from harness.diagnose.settings import differing_settings
from harness.ops.keras_layers import layer_facts
from harness.ops.op_terms import python_op
from harness.ops.tf_models import stage_inputs
from harness.specs.cases import Case
from harness.specs.spec import Pipeline
from harness.specs.step import Step

EXPLAINED = ("float32", "float16", "none")  # own error classes float arithmetic explains


def diagnose_steps(
    result: RunResult,
    pipeline: Pipeline,
    case: Case,
    reference: RuntimeOutput,
    candidate: RuntimeOutput,
    isolated: RuntimeOutput | None,
) -> None:
    """Every stage whose own (isolated) error is semantic, and the first divergent stage or
    model layer, get an explanation (diagnose/explain.py). Never raises."""
    steps = {
        s.name: (s, prev) for s, prev in zip(pipeline.steps, pipeline.stage_names, strict=False)
    }
    targets: list[tuple[StageResult, str]] = [
        (s, s.name) for s in result.stages if s.own_error_class == "semantic"
    ]
    first = next((s for s in result.stages if s.name == result.first_divergence), None)
    if first is not None and result.first_divergent_layer is not None:
        layer = next(la for la in first.layers if la.name == result.first_divergent_layer)
        targets.append((layer, f"{first.name}/{layer.name}"))
    elif first is not None and first.own_error_class not in EXPLAINED:
        targets.append((first, first.name))
    done: set[str] = set()
    for stage, name in targets:
        if name in done:
            continue
        done.add(name)
        diagnose(stage, _seen(result, stage, name, steps, case, reference, candidate, isolated))


def _seen(
    result: RunResult,
    stage: StageResult,
    name: str,
    steps: Mapping[str, tuple[Step, str]],
    case: Case,
    reference: RuntimeOutput,
    candidate: RuntimeOutput,
    isolated: RuntimeOutput | None,
) -> Seen | None:
    """What is known of stage `name` ("model/layer" for a layer); None when either side's
    array is missing (nothing to test)."""
    try:
        python = reference.stages.get(name)
        js = isolated.stages.get(name) if isolated is not None else None
        if js is None and stage.chained is not None:
            js = candidate.stages.get(name)
        if python is None or js is None:
            return None
        if not isinstance(js, np.ndarray):  # a stage too large to hold (BlockSource)
            not_held(stage, js.nbytes)
            return None
        owner, _, layer = name.partition("/")
        step, previous = steps.get(owner, (None, None))
        facts: dict[str, Any] = {"differing": {}, "layer": None, "rerun": None}
        if step is None:
            kind, op, inputs = "step", stage.op, ()
        elif layer:
            kind, op, inputs, facts["layer"] = _layer(step, previous, layer, reference, stage)
        else:
            kind = "custom" if step.custom is not None else "step"
            op = step.custom.name if step.custom is not None else step.op
            inputs = _arrays([reference.stages.get(previous)])
            facts["differing"] = differing_settings(step, case.params)
            if inputs:
                facts["rerun"] = _rerun(step, step.settings("python", case.params), inputs[0])
        return Seen(
            stage=name,
            kind=kind,
            op=op,
            backend=result.backend,
            reference=np.asarray(python),
            candidate=np.asarray(js),
            inputs=inputs,
            file=case.file.tobytes() if case.file is not None else None,
            layer=facts["layer"],
            differing=facts["differing"],
            rerun=facts["rerun"],
        )
    except Exception:  # diagnosis never breaks a run: nothing known rather than an error
        return None


def _layer(
    step: Step, previous: str, layer: str, reference: RuntimeOutput, stage: StageResult
) -> tuple[str, str | None, tuple[np.ndarray, ...], LayerFacts | None]:
    path, fmt = step.python["path"], step.python["format"]
    reads = stage_inputs(path, fmt, layer)
    inputs: tuple[np.ndarray, ...] = ()
    if reads is not None:
        inputs = _arrays(
            [reference.stages.get(previous if r is None else f"{step.name}/{r}") for r in reads]
        )
    if fmt == "graph":
        return "node", stage.op, inputs, None
    got = layer_facts(path, layer)
    facts = LayerFacts(*got) if got is not None else None
    return "layer", stage.op, inputs, facts


def _rerun(
    step: Step, settings: Mapping[str, Any], x: np.ndarray
) -> Callable[[Mapping[str, Any]], np.ndarray]:
    """Python's op of `step` on `x` with some of its settings replaced."""

    def run(replaced: Mapping[str, Any]) -> np.ndarray:
        chosen = {**settings, **replaced}
        if step.custom is not None:
            return np.asarray(step.custom.python_function(x, **chosen))
        return np.asarray(python_op(step.op, chosen, x))

    return run


def _arrays(values: list[Any]) -> tuple[np.ndarray, ...]:
    """All of them as arrays, or () when any is unknown (or several tensors)."""
    if not values or any(not isinstance(v, np.ndarray) for v in values):
        return ()
    return tuple(values)


def diagnose_taps(
    result: RunResult, case: Case, reference: RuntimeOutput, candidate: RuntimeOutput
) -> None:
    """The first divergent tap of a code pipeline, tapped by both sides: its explanation, with
    the tap before it as its possible input (the evidence checks it is one)."""
    first = next((s for s in result.stages if s.name == result.first_divergence), None)
    if first is None or first.chained is None:
        return
    names = list(reference.stages)
    at = names.index(first.name) if first.name in names else -1
    before = reference.stages[names[at - 1]] if at > 0 else None
    python, js = reference.stages.get(first.name), candidate.stages.get(first.name)
    seen = None
    if js is not None and not isinstance(js, np.ndarray):  # too large to hold (BlockSource)
        not_held(first, js.nbytes)
    elif python is not None and js is not None:
        seen = Seen(
            stage=first.name,
            kind="tap",
            op=None,
            backend=result.backend,
            reference=np.asarray(python),
            candidate=np.asarray(js),
            inputs=_arrays([before]),
            file=case.file.tobytes() if case.file is not None else None,
        )
    diagnose(first, seen)
