"""Stage-by-stage verdicts for one run, and where it first diverges."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from harness.compare import budget
from harness.compare.budget import Terms
from harness.compare.classify import classify
from harness.compare.gaps import lost, lost_with, not_compared
from harness.compare.metrics import (
    BlockReadError,
    BlockSource,
    Metrics,
    compare,
    dtype_family,
)
from harness.compare.parts import by_parts, composite
from harness.compare.policy import Tolerance
from harness.compare.tolerance import default_tolerance
from harness.core.outputs import INPUT_STAGE, RuntimeOutput
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
    differences = held_differently(reference, candidate)
    if differences:  # the shape first: no element-wise comparison either way
        result.message = differences[0]
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


def held_differently(reference: np.ndarray, candidate: np.ndarray | BlockSource) -> list[str]:
    """What keeps two arrays from being compared element by element, in words: their shapes
    ("shape differs: python [3] vs js [2]"), their dtypes' families ("dtype differs: python
    float32 (float) vs js int32 (int)"); [] when neither differs."""
    found = []
    if reference.shape != candidate.shape:
        found.append(f"shape differs: python {list(reference.shape)} vs js {list(candidate.shape)}")
    ref_family, cand_family = dtype_family(reference.dtype), dtype_family(candidate.dtype)
    if ref_family != cand_family:
        found.append(
            f"dtype differs: python {reference.dtype} ({ref_family}) vs "
            f"js {candidate.dtype} ({cand_family})"
        )
    return found


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
            result = composite(name, reference.composites[name], results)
            results.append(result)
            continue
        ref = reference.stages.get(name)
        cand = candidate.stages.get(name)
        if ref is None or cand is None:
            result = (
                lost(name, ref, cand, reference, candidate)
                or lost_with(name, ref, cand, broke)
                or not_compared(name, ref, cand, reference, candidate, first is None)
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
            by_parts(result, results)
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
