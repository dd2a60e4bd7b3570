"""Stages the harness has no comparison for: one a runtime produced that could not be read, one
the js side computed but lost when it failed at a later step, one a side did not produce; and
why such gaps leave a run with no verdict although both runtimes finished (`unjudged`)."""

from __future__ import annotations

import numpy as np

from harness.core.outputs import RuntimeOutput, StageFailure
from harness.core.results import StageResult


def lost(
    name: str,
    ref: np.ndarray | None,
    cand: np.ndarray | None,
    reference: RuntimeOutput,
    candidate: RuntimeOutput,
) -> StageResult | None:
    """A stage a runtime produced but the harness could not read (a pull from the page failed,
    or its bytes did not decode): an error of this stage, never a pass nor a "not run"."""
    why = []
    for side, out, arr in (("python", reference, ref), ("js", candidate, cand)):
        if arr is None and name in out.stages:
            failure = out.failures.get(name)
            why.append(
                f"the {side} stage could not be read"
                + (f": {failure.message}" if failure else " (an earlier read failed)")
            )
    if not why:
        return None
    return StageResult(name, None, None, None, None, "error", None, None, None, "; ".join(why))


def lost_with(
    name: str, ref: np.ndarray | None, cand: np.ndarray | None, broke: StageFailure | None
) -> StageResult | None:
    """A stage the js side computed before the harness failed on it at a later step (the page
    hung or died), and that was lost with it before the harness read it: an error, not a
    stage that never ran."""
    if broke is None or cand is not None or ref is None:
        return None
    said = (
        f"computed by js, but lost when js failed at {broke.stage!r} (the harness had not "
        "read it yet): not compared"
    )
    return StageResult(name, None, None, list(ref.shape), str(ref.dtype), "error", None, None,
                       None, said)  # fmt: skip


def not_compared(
    name: str,
    ref: np.ndarray | None,
    cand: np.ndarray | None,
    reference: RuntimeOutput,
    candidate: RuntimeOutput,
    is_first_gap: bool,
) -> StageResult:
    """A stage one runtime did not produce: the failing stage says why, later ones are not_run."""
    why = []
    ours = False  # the harness failed here, not the user's code: an error, not a failed stage
    for side, out, arr in (("python", reference, ref), ("js", candidate, cand)):
        if arr is None and out.failure and out.failure.stage == name:
            why.append(f"{side} failed here: {out.failure.message}")
            ours |= out.failure.harness
    # the harness's own failure (a page that died or hung at this step) is this stage's error
    # wherever it is; the user's failure is judged at the first stage missing
    verdict = "error" if ours else ("fail" if why and is_first_gap else "not_run")
    if not why and not reference.failure and not candidate.failure:
        # both sides finished: the stage exists on one side only (a model layer or node the
        # other side's model does not have under this name)
        only = "python" if ref is not None else "js" if cand is not None else None
        if only:  # not compared, which the run's coverage states; no verdict of its numbers
            why.append(f"only {only} produced it (no counterpart by this name): not compared")
    return StageResult(
        name=name,
        shape=list(cand.shape) if cand is not None else None,
        dtype=str(cand.dtype) if cand is not None else None,
        reference_shape=list(ref.shape) if ref is not None else None,
        reference_dtype=str(ref.dtype) if ref is not None else None,
        verdict=verdict,
        chained=None,
        isolated=None,
        tolerance=None,
        message="; ".join(why) or "not run: an earlier stage failed",
    )


def unjudged(stages: list[StageResult]) -> str | None:
    """Why a run cannot have a verdict although both runtimes finished: stages the harness could
    not read, or no stage compared at all (a run that compares nothing must not pass)."""
    lost = [f"{s.name}: {s.message}" for s in stages if s.verdict == "error"]
    lost += [
        f"{name}: {s.isolated_message}"
        for name, s in _with_layers(stages)
        if s.own_verdict == "error" and s.verdict != "error"
    ]
    if lost:
        return "; ".join(lost)
    if not any(s.verdict in ("pass", "fail") for s in stages):
        return "no stage was compared: neither side produced a stage both have"
    skipped = [s.name for s in stages if s.verdict == "not_run"]
    if skipped:  # neither side failed, yet a stage has no comparison: never a pass
        return f"not compared although both sides finished: {', '.join(skipped)}"
    return None


def _with_layers(stages: list[StageResult]) -> list[tuple[str, StageResult]]:
    """Every stage, and a model stage's layers after it, as (name, result)."""
    out = []
    for s in stages:
        out.append((s.name, s))
        out += [(f"{s.name}/{layer.name}", layer) for layer in s.layers]
    return out
