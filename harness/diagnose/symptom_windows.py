"""Symptoms of arrays that are the same values held differently: one a crop (a window) of the
other (within float32 rounding), or one side's floats rounded to integers by the other. Each
holds for every element or is not reported, as every detector (symptom_detectors.py)."""

from __future__ import annotations

import itertools

import numpy as np

from harness.diagnose.symptom_detectors import MIN_EVIDENCE, RTOL, Symptom, _same, _scale

MAX_WINDOWS = 256  # placements of the smaller array tried, at most (a few rows or columns off)


def crop(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    """One array equals a window of the other (same rank, smaller or equal on every axis):
    a crop or a pad on one side, said as the slice of the larger that gives the smaller."""
    if ref.ndim != cand.ndim or ref.shape == cand.shape or ref.ndim == 0:
        return None
    if all(c <= r for r, c in zip(ref.shape, cand.shape, strict=True)):
        big, small, bigger, smaller = ref, cand, "python", "js"
    elif all(c >= r for r, c in zip(ref.shape, cand.shape, strict=True)):
        big, small, bigger, smaller = cand, ref, "js", "python"
    else:
        return None
    if small.size < MIN_EVIDENCE:
        return None
    ranges = [range(b - s + 1) for b, s in zip(big.shape, small.shape, strict=True)]
    if np.prod([len(r) for r in ranges]) > MAX_WINDOWS:
        return None
    scale = _scale(big, small)
    fits = []
    for start in itertools.product(*ranges):
        window = tuple(slice(o, o + n) for o, n in zip(start, small.shape, strict=True))
        if _same(big[window], small, RTOL, scale):  # within float32 rounding, as the others
            fits.append(start)
            if len(fits) > 1:
                return None  # several placements fit: the arrays alone cannot say which
    if not fits:
        return None
    index = ", ".join(
        ":" if n == b else f"{o}:{o + n}"
        for o, n, b in zip(fits[0], small.shape, big.shape, strict=True)
    )
    return Symptom(
        "crop",
        f"{smaller} == {bigger}[{index}]: the same values, {smaller} cropped (or {bigger} "
        f"padded), shape python {list(ref.shape)} vs js {list(cand.shape)}",
    )


def to_integers(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    """One side holds integers (an integer dtype) where the other holds floats with
    fractions, and the integers are those floats rounded one way at every element."""
    if ref.shape != cand.shape:
        return None
    if cand.dtype.kind in "iu" and ref.dtype.kind == "f":
        floats, ints, rounded, kept = ref, cand, "js", "python"
    elif ref.dtype.kind in "iu" and cand.dtype.kind == "f":
        floats, ints, rounded, kept = cand, ref, "python", "js"
    else:
        return None
    f64, i64 = floats.astype(np.float64), ints.astype(np.float64)
    if not np.all(np.isfinite(f64)) or np.count_nonzero(f64 != np.round(f64)) < MIN_EVIDENCE:
        return None
    ways = (
        ("to nearest, half to even", np.round(f64)),
        ("to nearest, half away from zero", np.sign(f64) * np.floor(np.abs(f64) + 0.5)),
        ("down (floor)", np.floor(f64)),
        ("toward zero (truncated)", np.trunc(f64)),
        ("up (ceil)", np.ceil(f64)),
    )
    fit = [way for way, values in ways if np.array_equal(values, i64)]
    if not fit:
        return None
    return Symptom(  # ways these values cannot tell apart (no ties, no negatives) all named
        "to_integers",
        f"{rounded} == {kept} rounded {' or '.join(fit)}, held as {ints.dtype}: the {rounded} "
        f"side casts to integers where the {kept} side keeps {floats.dtype}",
    )
