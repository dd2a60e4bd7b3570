"""Element-wise error metrics between a reference and a candidate tensor, in float32 terms.

A float64 reference is legitimate (the user's Python is float64); ULP distances are then counted
from the reference rounded to float32, i.e. from the best answer a float32 runtime could give.
NaN and Inf never pass silently: positions where they disagree are mismatches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from harness.compare.policy import Tolerance
from harness.compare.sweep import Acc, accumulate, merge
from harness.core.results import Metrics


@runtime_checkable
class BlockSource(Protocol):
    """A candidate too large to hold whole (a page's stage above the size the harness pulls
    at once), read as consecutive flat slices in row-major order."""

    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int

    def blocks(self) -> Iterator[np.ndarray]:
        """Flat slices that, one after the other, are the whole tensor; BlockReadError when a
        slice cannot be read."""
        ...


class BlockReadError(RuntimeError):
    """A slice of a BlockSource could not be read (the page that holds it went away)."""


def dtype_family(dtype: np.dtype) -> str:
    return {"f": "float", "i": "integer", "u": "integer", "b": "bool"}.get(dtype.kind, dtype.kind)


def compare(reference: np.ndarray, candidate: np.ndarray | BlockSource, tol: Tolerance) -> Metrics:
    """Metrics of candidate against reference; shapes must already agree.

    Works block by block (all metrics in one sweep per block), so large tensors stream through
    the cache instead of making a dozen full-size temporaries; large tensors are split into one
    contiguous span per core (numpy releases the GIL inside each pass). A BlockSource candidate
    is compared slice by slice as it is read, never held whole (a median or quantile policy
    then keeps the finite |differences| and relative errors as float32, 8 bytes an element)."""
    if tuple(reference.shape) != tuple(candidate.shape):
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    ref = np.ascontiguousarray(reference).reshape(-1)
    total = ref.size
    if total == 0:
        return Metrics(0.0, 0.0, 0, 0.0, True, 0, 0, 0, None, None, None)
    floats = reference.dtype.kind == "f" or candidate.dtype.kind == "f"
    if isinstance(candidate, np.ndarray):
        cand = np.ascontiguousarray(candidate).reshape(-1)
        acc = accumulate(ref, cand, tol, floats)
        at = {i: float(cand[i]) for i in (acc.worst, acc.nonfinite_first) if i is not None}
        statistics = lambda: _statistics(ref, cand, tol.statistic)  # noqa: E731
    else:
        acc, at, kept = _accumulate_blocks(ref, candidate, tol, floats)
        statistics = lambda: _kept_statistics(kept, tol.statistic)  # noqa: E731
    mismatched = acc.mismatched + acc.nonfinite_bad
    stat_abs = stat_rel = None
    if tol.statistic == "elementwise":
        passed = acc.nonfinite_bad == 0 and mismatched <= tol.mismatch_fraction * total
    else:
        stat_abs, stat_rel = statistics()
        passed = acc.nonfinite_bad == 0 and not (stat_abs > tol.atol and stat_rel > tol.rtol)
    worst = None
    worst_ref = worst_cand = None
    if acc.worst is not None:
        worst = tuple(int(i) for i in np.unravel_index(acc.worst, reference.shape))
        worst_ref, worst_cand = float(ref[acc.worst]), at[acc.worst]
    bad = acc.nonfinite_first
    nonfinite = {}
    if bad is not None:
        nonfinite = {
            "nonfinite_index": tuple(int(i) for i in np.unravel_index(bad, reference.shape)),
            "nonfinite_reference": float(ref[bad]),
            "nonfinite_candidate": at[bad],
        }
    return Metrics(
        max_abs=acc.max_abs,
        max_rel=acc.max_rel,
        max_ulp=acc.max_ulp,
        mismatch_fraction=mismatched / total,
        allclose=mismatched == 0,
        mismatched=mismatched,
        total=total,
        nonfinite_mismatched=acc.nonfinite_bad,
        worst_index=worst,
        worst_reference=worst_ref,
        worst_candidate=worst_cand,
        passed=passed,
        # NaN/Inf where the other side is finite: no tolerance passes that
        min_atol=float("inf") if acc.nonfinite_bad else max(acc.min_atol, 0.0),
        min_rtol=float("inf") if acc.nonfinite_bad else max(acc.min_rtol, 0.0),
        statistic_abs=stat_abs,
        statistic_rel=stat_rel,
        **nonfinite,
    )


def _accumulate_blocks(
    ref: np.ndarray, source: BlockSource, tol: Tolerance, floats: bool
) -> tuple[Acc, dict[int, float], list[tuple[np.ndarray, np.ndarray]]]:
    """The sweep over a candidate read slice by slice: the accumulators, the candidate's values
    at the worst and first non-finite elements, and (for a median or quantile policy) each
    slice's finite |differences| and relative errors as float32."""
    accs: list[Acc] = []
    at: dict[int, float] = {}
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    keep = tol.statistic not in ("elementwise", "max", "mean")
    offset = 0
    for block in source.blocks():
        block = np.ascontiguousarray(block).reshape(-1)
        n = block.size
        if offset + n > ref.size:
            raise BlockReadError(f"the slices hold more than the tensor's {ref.size} elements")
        part = ref[offset : offset + n]
        acc = accumulate(part, block, tol, floats)
        for field in ("worst", "nonfinite_first"):
            index = getattr(acc, field)
            if index is not None:
                at[offset + index] = float(block[index])
                setattr(acc, field, offset + index)
        accs.append(acc)
        if keep or tol.statistic in ("max", "mean"):
            kept.append(_finite_errors(part, block, keep))
        offset += n
    if offset != ref.size:
        raise BlockReadError(f"the slices hold {offset} of the tensor's {ref.size} elements")
    return merge(accs), at, kept


def _errors(ref: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|cand - ref| and the relative error, float64, over the elements where both are finite."""
    r = ref.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.abs(cand.astype(np.float64) - r)
        finite = np.isfinite(d)
        d, mag = d[finite], np.abs(r[finite])
        rel = np.where(d == 0, 0.0, d / mag)
    return d, rel


def _finite_errors(ref: np.ndarray, cand: np.ndarray, keep: bool) -> tuple[np.ndarray, np.ndarray]:
    """The finite |cand - ref| and relative errors of one slice: kept whole as float32 when
    `keep` (a median or quantile needs them all), else reduced to [max, sum, count] each."""
    d, rel = _errors(ref, cand)
    if keep:
        return d.astype(np.float32), rel.astype(np.float32)
    summary = [np.array([v.max(initial=0.0), v.sum(), v.size], dtype=np.float64) for v in (d, rel)]
    return summary[0], summary[1]


def _kept_statistics(
    kept: list[tuple[np.ndarray, np.ndarray]], statistic: str
) -> tuple[float, float]:
    """The policy's statistic from the slices' kept errors (_finite_errors)."""
    if statistic in ("max", "mean"):
        out = []
        for i in (0, 1):
            top = max((float(k[i][0]) for k in kept), default=0.0)
            total = sum(float(k[i][1]) for k in kept)
            count = sum(float(k[i][2]) for k in kept)
            out.append(top if statistic == "max" else (total / count if count else 0.0))
        return out[0], out[1]
    d = np.concatenate([k[0] for k in kept]) if kept else np.empty(0, np.float32)
    rel = np.concatenate([k[1] for k in kept]) if kept else np.empty(0, np.float32)
    if d.size == 0:
        return 0.0, 0.0
    q = 0.5 if statistic == "median" else float(statistic.split(":", 1)[1])
    return float(np.quantile(d, q)), float(np.quantile(rel, q))


def _statistics(ref: np.ndarray, cand: np.ndarray, statistic: str) -> tuple[float, float]:
    """The policy's statistic of the absolute and relative errors over finite elements."""
    d, rel = _errors(ref, cand)
    if d.size == 0:
        return 0.0, 0.0
    if statistic == "max":
        return float(d.max()), float(rel.max())
    if statistic == "mean":
        return float(d.mean()), float(rel.mean())
    q = 0.5 if statistic == "median" else float(statistic.split(":", 1)[1])
    return float(np.quantile(d, q)), float(np.quantile(rel, q))
