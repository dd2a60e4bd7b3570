"""Element-wise error metrics between a reference and a candidate tensor, in float32 terms.

A float64 reference is legitimate (the user's Python is float64); ULP distances are then counted
from the reference rounded to float32, i.e. from the best answer a float32 runtime could give.
NaN and Inf never pass silently: positions where they disagree are mismatches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """Element passes when |cand - ref| <= atol + rtol * |ref| (numpy.isclose's rule)."""

    atol: float
    rtol: float
    basis: str  # why these numbers

    def to_dict(self) -> dict[str, float | str]:
        return {"atol": self.atol, "rtol": self.rtol, "basis": self.basis}


@dataclass(frozen=True)
class Metrics:
    max_abs: float
    max_rel: float
    max_ulp: int
    mismatch_fraction: float
    allclose: bool
    mismatched: int
    total: int
    nonfinite_mismatched: int  # NaN/Inf in one tensor but not at the same place in the other
    worst_index: tuple[int, ...] | None  # where max_abs is
    worst_reference: float | None
    worst_candidate: float | None


def dtype_family(dtype: np.dtype) -> str:
    return {"f": "float", "i": "integer", "u": "integer", "b": "bool"}.get(dtype.kind, dtype.kind)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Float32 steps between a and b (both float32), counting across zero (+0 and -0 are equal)."""
    ia = a.view(np.int32).astype(np.int64)
    ib = b.view(np.int32).astype(np.int64)
    oa = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ob = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return np.abs(oa - ob)


def compare(reference: np.ndarray, candidate: np.ndarray, tol: Tolerance) -> Metrics:
    """Metrics of candidate against reference; shapes must already agree."""
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    ref = reference.astype(np.float64, copy=False).ravel()
    cand = candidate.astype(np.float64, copy=False).ravel()
    total = ref.size
    if total == 0:
        return Metrics(0.0, 0.0, 0, 0.0, True, 0, 0, 0, None, None, None)

    finite = np.isfinite(ref) & np.isfinite(cand)
    if finite.all():  # the usual case: no masking copies
        r, c, nonfinite_bad = ref, cand, 0
    else:
        same_nonfinite = (ref == cand) | (np.isnan(ref) & np.isnan(cand))
        nonfinite_bad = int((~finite & ~same_nonfinite).sum())
        r, c = ref[finite], cand[finite]
    diff = np.abs(c - r)
    mag = np.abs(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = diff / mag  # diff > 0 over ref == 0 -> inf; 0 / 0 -> nan, read as 0 below
    too_far = diff > tol.atol + tol.rtol * mag
    mismatched = int(too_far.sum()) + nonfinite_bad

    if candidate.dtype.kind == "f" or reference.dtype.kind == "f":
        ulps = ulp_distance(r.astype(np.float32), c.astype(np.float32))
    else:
        ulps = diff.astype(np.int64)

    worst = None
    worst_ref = worst_cand = None
    if diff.size:
        k = int(np.argmax(diff))
        flat = int(np.flatnonzero(finite)[k])
        worst = tuple(int(i) for i in np.unravel_index(flat, reference.shape))
        worst_ref, worst_cand = float(r[k]), float(c[k])
    return Metrics(
        max_abs=float(diff.max()) if diff.size else 0.0,
        max_rel=float(np.nanmax(rel)) if rel.size and not np.isnan(rel).all() else 0.0,
        max_ulp=int(ulps.max()) if ulps.size else 0,
        mismatch_fraction=mismatched / total,
        allclose=mismatched == 0,
        mismatched=mismatched,
        total=total,
        nonfinite_mismatched=nonfinite_bad,
        worst_index=worst,
        worst_reference=worst_ref,
        worst_candidate=worst_cand,
    )
