"""A run's verdict against the pipeline's declared divergences.

A declared divergence (specs/expect.py) excuses its own stage, and only while that stage's
own error is of the declared class and within the declared bound. Every other stage is judged on
its own (isolated) error as if nothing were declared: a new fault after a known one fails the
run, named. A stage after a declared divergence that has no own run (a code pipeline's tap, or a
run without isolation) cannot be told apart from what it inherits: it is listed as not judged,
never silently passed; unless what fails there cannot be inherited (a shape, a dtype, a tap one
side never makes, NaN/Inf), which fails the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.core.results import RunResult, StageResult

CLASSES = ("float32", "float16", "semantic")


@dataclass(frozen=True)
class Expectation:
    stage: str
    error_class: str | None  # the own error's class; None for a tap (no isolated run)
    max_abs: float  # bound on the stage's own max |js - python| (a tap's: end to end)
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.error_class, "max_abs": self.max_abs, "why": self.why}


def judge(run: RunResult, expect: Mapping[str, Expectation]) -> None:
    """Fill run.expected, run.unexpected, run.unmet and run.unjudged from its stages."""
    run.expected = {name: e.to_dict() for name, e in expect.items()}
    run.unexpected, run.unmet, run.unjudged = [], [], []
    declared_before = False  # a declared divergence has happened upstream
    for stage in run.stages:
        if stage.verdict in ("not_run", "error"):
            continue  # the run is an error, or never got here: nothing to judge
        if stage.name in expect:
            run.unmet += _unmet(stage, expect[stage.name])
            declared_before = True
            continue
        if stage.own_verdict is None and declared_before and stage.verdict == "fail":
            # values can carry a divergence downstream; a shape, a dtype, a tap one side never
            # makes or a NaN/Inf is not a larger or smaller number: a fault of its own
            (run.unexpected if _not_inherited(stage) else run.unjudged).append(stage.name)
            continue
        layers = [
            f"{stage.name}/{layer.name}"
            for layer in stage.layers
            if (layer.own_verdict or layer.verdict) == "fail"
        ]
        run.unexpected += layers  # a model's failing layers say where; the model only if none
        if (stage.own_verdict or stage.verdict) == "fail" and not layers:
            run.unexpected.append(stage.name)
    reached = {s.name for s in run.stages if s.verdict not in ("not_run", "error")}
    if run.status == "ok":
        run.unmet += [
            f"{name}: declared to diverge, but the run compared no such stage"
            for name in expect
            if name not in reached
        ]


def _not_inherited(stage: StageResult) -> bool:
    """A failure that values passed on by an earlier stage cannot explain."""
    return stage.chained is None or bool(stage.chained.nonfinite_mismatched)


def _unmet(stage: StageResult, e: Expectation) -> list[str]:
    """Why `stage` does not diverge as `e` declares (empty: it does)."""
    own = stage.isolated if stage.own_verdict is not None else stage.chained
    verdict = stage.own_verdict or stage.verdict
    declared = f"declared {e.error_class + ', ' if e.error_class else ''}max_abs {e.max_abs:g}"
    if verdict == "pass":
        return [
            f"{stage.name}: {declared}, but its own error passes"
            + (f" (max |js - python| {own.max_abs:.3g})" if own else "")
            + ": the divergence is gone; remove the declaration"
        ]
    if own is None:
        detail = stage.isolated_message or stage.message or "no values to compare"
        return [f"{stage.name}: {declared}, but its own run gives nothing to measure: {detail}"]
    out = []
    if e.error_class is not None and stage.own_error_class != e.error_class:
        out.append(f"{stage.name}: its own error is {stage.own_error_class}, {declared}")
    if own.nonfinite_mismatched:
        out.append(
            f"{stage.name}: NaN/Inf disagree at {own.nonfinite_mismatched} element(s), "
            f"first at {list(own.nonfinite_index)}: beyond any declared bound ({declared})"
        )
    elif own.max_abs > e.max_abs:
        out.append(
            f"{stage.name}: its own error max |js - python| {own.max_abs:.3g} is beyond the "
            f"declared {e.max_abs:g}"
        )
    return out
