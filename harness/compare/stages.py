"""Stage-by-stage verdicts for one run, and where it first diverges."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from harness.compare import budget
from harness.compare.budget import Terms
from harness.compare.classify import classify
from harness.compare.metrics import (
    BlockReadError,
    BlockSource,
    Metrics,
    Tolerance,
    compare,
    dtype_family,
)
from harness.compare.tolerance import default_tolerance
from harness.core.outputs import INPUT_STAGE, RuntimeOutput, StageFailure
from harness.core.results import StageResult


def compare_stage(
    name: str, reference: np.ndarray, candidate: np.ndarray | BlockSource, tol: Tolerance
) -> StageResult:
    """One stage under `tol`: shape, dtype family, then the metrics. A BlockSource candidate
    (too large to hold whole) is compared slice by slice; one that cannot be read to its end
    is an `error` of the stage."""
    result = StageResult(
        name=name,
        shape=list(candidate.shape),
        dtype=str(candidate.dtype),
        reference_shape=list(reference.shape),
        reference_dtype=str(reference.dtype),
        verdict="fail",
        chained=None,
        isolated=None,
        tolerance=tol.to_dict(),
    )
    if reference.shape != candidate.shape:
        result.message = (
            f"shape differs: python {list(reference.shape)} vs js {list(candidate.shape)}"
        )
        return result
    ref_family, cand_family = dtype_family(reference.dtype), dtype_family(candidate.dtype)
    if ref_family != cand_family:
        result.message = (
            f"dtype differs: python {reference.dtype} ({ref_family}) vs "
            f"js {candidate.dtype} ({cand_family})"
        )
        return result
    try:
        m = compare(reference, candidate, tol)
    except BlockReadError as e:
        result.verdict, result.message = "error", f"the js stage could not be read: {e}"
        return result
    result.chained = m
    result.verdict = "pass" if m.passed else "fail"
    if not m.nonfinite_mismatched:  # no tolerance passes a NaN/Inf disagreement
        result.min_passing_tolerance = {"atol": m.min_atol, "rtol": m.min_rtol, "ulp": m.max_ulp}
    if not m.allclose:
        result.message = describe_mismatch(m, tol)
    return result


def describe_mismatch(m: Metrics, tol: Tolerance) -> str:
    """torch.testing-style: how many, the greatest differences, where, and what was allowed."""
    if m.nonfinite_mismatched:  # first: the NaN/Inf is the finding, not the finite metrics
        text = (
            f"NaN/Inf disagree at {m.nonfinite_mismatched} of {m.total} element(s), first at "
            f"index {list(m.nonfinite_index or [])} (python {m.nonfinite_reference!r}, js "
            f"{m.nonfinite_candidate!r}); no tolerance passes that"
        )
        if m.max_abs > 0 and m.worst_index is not None:
            text += (
                f". Among the finite elements: greatest absolute difference {m.max_abs:.6g} "
                f"at index {list(m.worst_index)}"
            )
        return text
    allowed = f"allowed atol {tol.atol:g} + rtol {tol.rtol:g} * |python|"
    if tol.ulp is not None:
        allowed += f" or {tol.ulp} ULP"
    if tol.mismatch_fraction:
        allowed += f", up to {tol.mismatch_fraction:.2%} of elements"
    text = (
        f"mismatched elements: {m.mismatched} / {m.total} ({m.mismatch_fraction:.1%}); "
        f"greatest absolute difference {m.max_abs:.6g} at index {list(m.worst_index or [])} "
        f"(python {m.worst_reference!r}, js {m.worst_candidate!r}); "
        f"greatest relative difference {m.max_rel:.6g}; max {m.max_ulp} float32 ULP; {allowed}"
    )
    if tol.statistic != "elementwise":
        text += (
            f"; {tol.statistic} of |js - python| {m.statistic_abs:.6g}, "
            f"of the relative error {m.statistic_rel:.6g}"
        )
    return text + f"; it would pass with atol {m.min_atol:.3g} or rtol {m.min_rtol:.3g}"


PolicyFor = Callable[[str, np.dtype], Tolerance]  # (stage, candidate dtype) -> policy


def default_policies(precision: str) -> PolicyFor:
    return lambda _stage, dtype: default_tolerance(dtype, precision)


def compare_run(
    stage_names: tuple[str, ...],
    reference: RuntimeOutput,
    candidate: RuntimeOutput,
    policy_for: PolicyFor,
    isolated: RuntimeOutput | None = None,
    precision: str = "float32",
    budgets: Mapping[str, Terms] | None = None,
) -> tuple[list[StageResult], str | None]:
    """Every stage chained (end to end) and, given `isolated`, on its own (fed Python's input).

    The first divergence is the first stage whose OWN error fails: a stage that only carries an
    earlier stage's error is not where things went wrong. Without an isolated result for a
    stage (the isolated run could not run it), its chained verdict stands in.

    A stage's own verdict and class come from its float budget (`budgets`, compare/budget.py)
    when it has one and the user set no tolerance for it; otherwise from its tolerance policy,
    classed by compare/classify.py. A composite stage (a model) is judged by its layers."""
    results: list[StageResult] = []
    first = None
    exact = True  # every stage so far agrees bit for bit end to end
    # the harness's failure on the js side (a page that hung or died) at a later step: the
    # stages before it were computed, and those not read yet were lost with it
    broke = candidate.failure if candidate.failure and candidate.failure.harness else None
    for name in stage_names:
        if broke is not None and (name == broke.stage or name.startswith(f"{broke.stage}/")):
            broke = None  # reached it: its own stage, and its layers, say what happened
        if name in reference.composites:
            result = _composite(name, reference.composites[name], results)
            results.append(result)
            continue
        ref = reference.stages.get(name)
        cand = candidate.stages.get(name)
        if ref is None or cand is None:
            result = (
                _lost(name, ref, cand, reference, candidate)
                or _lost_with(name, ref, cand, broke)
                or _not_compared(name, ref, cand, reference, candidate, first is None)
            )
        else:
            result = compare_stage(name, ref, cand, policy_for(name, cand.dtype))
        own_values = None
        if name == INPUT_STAGE:  # no op ran: what arrived is the stage's own error
            result.isolated, result.own_verdict = result.chained, result.verdict
            own_values = cand
        elif isolated is not None:
            own_values = _add_isolated(result, ref, isolated, policy_for)
        terms = (budgets or {}).get(name)
        explicit = own_values is not None and policy_for(name, own_values.dtype).explicit
        if terms is not None and terms.composite and not explicit and result.isolated:
            _by_parts(result, results)
        elif (
            terms is not None
            and isinstance(own_values, np.ndarray)
            and ref is not None
            and not explicit
        ):
            _by_budget(result, ref, own_values, terms, precision)
        elif (
            "error" not in (result.verdict, result.own_verdict)
            and ref is not None
            and cand is not None
        ):
            # a stage with values on both sides; one the harness could not judge, or that one
            # side failed to produce (an exception: its message says why), gets no class
            own = result.isolated if result.own_verdict is not None else result.chained
            if result.verdict != "not_run" and not (result.own_verdict == "fail" and own is None):
                result.own_error_class = classify(own, ref, precision)
            elif result.own_verdict == "fail":
                result.own_error_class = "semantic"  # the stage could not even run on its own
        if exact:
            _check_consistent(result)
        exact = exact and result.chained is not None and result.chained.max_abs == 0
        results.append(result)
        own = result.own_verdict or result.verdict
        if first is None and own == "fail":
            first = name
    return results, first


def _check_consistent(result: StageResult) -> None:
    """With every stage before it bit for bit equal end to end, a stage is fed the same values
    in both runs: exact on its own, it must be exact end to end. When it is not, the two runs
    computed it differently (the page fed it other inputs, or its kernel is not deterministic):
    an error of the run, never float drift nor the user's numbers."""
    alone, chained = result.isolated, result.chained
    if alone is None or chained is None or alone.max_abs != 0 or chained.max_abs == 0:
        return
    result.own_verdict, result.own_error_class = "error", None
    result.isolated_message = (
        f"run alone it is exact, yet end to end it differs by {chained.max_abs:.3g} "
        "although every stage before it agrees bit for bit: the two runs computed it "
        "differently (other inputs fed to it, or a kernel that is not deterministic)"
    )


def _by_budget(
    result: StageResult, ref: np.ndarray, own: np.ndarray, terms: Terms, precision: str
) -> None:
    """The own verdict and class from the stage's float budget."""
    if result.own_verdict == "fail" and result.isolated is None:  # shape, dtype, run failure
        result.own_error_class = "semantic"
        return
    j = budget.judge(ref, own, terms, precision)
    result.own_verdict, result.own_error_class = j.verdict, j.error_class
    result.budget = {
        "ratio": j.ratio,
        "ratio_float16": j.ratio16,
        "basis": terms.basis,
        "estimated": terms.estimated,
    }
    if j.message:
        result.isolated_message = j.message + (
            f"; {result.isolated_message}" if result.isolated_message else ""
        )
    elif j.verdict == "fail" and j.ratio is not None:
        past = j.ratio16 if j.ratio16 is not None else j.ratio
        kind = "float16" if j.ratio16 is not None else "float32"
        result.isolated_message = (
            f"own error {past:.3g}x what {kind} arithmetic explains here ({terms.basis})"
            + (f"; {result.isolated_message}" if result.isolated_message else "")
        )


CLASS_ORDER = ("none", "float32", "float16", "semantic")


def _by_parts(result: StageResult, earlier: list[StageResult]) -> None:
    """A model stage: its own error is its layers' (each judged on its own budget); the whole
    model's isolated difference is float drift through them when every layer passes."""
    parts = [r for r in earlier if r.name.startswith(f"{result.name}/")]
    if not parts:
        return
    failing = [p.name for p in parts if (p.own_verdict or p.verdict) == "fail"]
    classes = [p.own_error_class for p in parts if p.own_error_class in CLASS_ORDER]
    result.own_verdict = "fail" if failing else "pass"
    result.own_error_class = max(classes, key=CLASS_ORDER.index) if classes else None
    result.budget = {"basis": f"judged by its {len(parts)} layers", "failing": failing}


VERDICT_ORDER = ("pass", "not_run", "fail", "error")  # the worst of its parts is a composite's


def _composite(name: str, parts: Mapping[str, str], earlier: list[StageResult]) -> StageResult:
    """A stage that is several tensors (the reference's `composites`: a model's outputs, a
    case's named inputs), judged by its parts, each compared before it as a stage of its own:
    end to end by its parts' verdicts, its own error by every "<name>/..." stage (a model's
    every layer, as a one-output model is judged)."""
    got = {r.name: r for r in earlier}
    verdicts = {k: got[p].verdict if p in got else "not_run" for k, p in parts.items()}
    result = StageResult(
        name,
        None,
        None,
        None,
        None,
        max(verdicts.values(), key=VERDICT_ORDER.index),
        None,
        None,
        None,
        message=f"{len(parts)} tensors: " + ", ".join(f"{k} {v}" for k, v in verdicts.items()),
        parts={k: p.split("/", 1)[1] for k, p in parts.items()},
    )
    if name == INPUT_STAGE:
        result.own_verdict = result.verdict
        return result
    _by_parts(result, earlier)
    return result


def fold_layers(
    stages: list[StageResult],
    first_divergence: str | None,
    layer_ops: Mapping[str, Mapping[str, str]],
) -> tuple[list[StageResult], str | None, str | None]:
    """Move "<model stage>/<layer>" results into that stage's `layers`, in order, each with its
    layer class; a layer found first divergent makes its model stage the first divergence."""
    folded: list[StageResult] = []
    pending: dict[str, list[StageResult]] = {}
    for stage in stages:
        owner, sep, layer = stage.name.partition("/")
        if sep:
            stage.name, stage.op = layer, layer_ops.get(owner, {}).get(layer)
            pending.setdefault(owner, []).append(stage)
            continue
        stage.layers = pending.pop(stage.name, [])
        folded.append(stage)
    for owner, layers in pending.items():  # the model stage itself was not reached
        folded.append(
            StageResult(
                owner,
                None,
                None,
                None,
                None,
                "not_run",
                None,
                None,
                None,
                message="the model's output was not produced",
                layers=layers,
            )
        )
    owner, sep, layer = (first_divergence or "").partition("/")
    return folded, owner or None, layer if sep else None


def coverage(
    stage: StageResult, parts: Mapping[str, str | None], kind: str = "layers"
) -> dict[str, Any]:
    """How much of a model stage was compared: of `parts` (every layer or node: None, or why
    the harness does not compare it), those with a verdict in `stage.layers`; the others with
    the reason (a layer one side did not produce: its message)."""
    done = {s.name: s for s in stage.layers}
    missing: dict[str, str] = {}
    for name, why in parts.items():
        result = done.get(name)
        if why is not None:
            missing[name] = why
        elif result is None:
            missing[name] = "not produced by either side"
        elif result.verdict not in ("pass", "fail"):
            missing[name] = result.message or result.verdict
    total = len(parts)
    compared = total - len(missing)
    return {
        "compared": compared,
        "total": total,
        "share": compared / total if total else 1.0,
        "kind": kind,
        "not_compared": missing,
    }


def _add_isolated(
    result: StageResult, ref: np.ndarray | None, isolated: RuntimeOutput, policy_for: PolicyFor
) -> np.ndarray | None:
    """The isolated run's metrics and verdict under the policy; returns its values."""
    own = isolated.stages.get(result.name)
    failure = isolated.failures.get(result.name)
    if failure is not None:  # the chained run computed this stage: the isolation broke
        result.own_verdict = "error"
        result.isolated_message = (
            f"the harness could not run this stage on its own (fed Python's input to it): "
            f"{failure.message}"
        )
        return None
    if ref is not None and own is not None:
        alone = compare_stage(result.name, ref, own, policy_for(result.name, own.dtype))
        result.isolated, result.own_verdict = alone.chained, alone.verdict
        result.isolated_message = alone.message
        return own if alone.chained is not None else None
    return None


def _lost(
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


def _lost_with(
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


def _not_compared(
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
