"""Symptoms of the same values in another layout: one array a crop (a window) of the other, or
the same elements in another shape (a reshape or flatten). The values must be equal, element
for element (a crop or a reshape computes nothing): each holds for every element or is not
reported, as every detector (symptom_detectors.py)."""

from __future__ import annotations

import itertools

import numpy as np

from harness.diagnose.symptom_detectors import MIN_EVIDENCE, Symptom

MAX_WINDOWS = 1 << 16  # placements of the smaller array tried, at most (256x256 offsets)


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a.astype(np.float64), b.astype(np.float64), equal_nan=True))


def _held(ref: np.ndarray, cand: np.ndarray) -> str:
    """', held as int32 by js and float32 by python' where the dtypes differ."""
    if ref.dtype == cand.dtype:
        return ""
    return f", held as {cand.dtype} by js and {ref.dtype} by python"


def crop(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    """One array equals a window of the other (same rank, smaller or equal on every axis):
    a crop or a pad on one side, said as the slice of the larger that gives the smaller. Not
    said where several placements fit (the arrays cannot tell which)."""
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
    b64, s64 = big.astype(np.float64), small.astype(np.float64)
    first = s64.flat[0]
    fits = []
    for start in itertools.product(*ranges):
        b_first = b64[start]
        if not (b_first == first or (np.isnan(b_first) and np.isnan(first))):
            continue  # most placements fail at their first element, cheaply
        window = tuple(slice(o, o + n) for o, n in zip(start, small.shape, strict=True))
        if np.array_equal(b64[window], s64, equal_nan=True):
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
        f"padded), shape python {list(ref.shape)} vs js {list(cand.shape)}{_held(ref, cand)}",
    )


def reshape(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    """The same elements in the same (row-major) order, in another shape that is not the same
    one with size-1 axes added or dropped (that is `batch_axis`): a reshape or a flatten."""
    if ref.shape == cand.shape or ref.size != cand.size or ref.size < MIN_EVIDENCE:
        return None
    if np.squeeze(ref).shape == np.squeeze(cand).shape:
        return None
    if not _equal(ref.ravel(), cand.ravel()):
        return None
    return Symptom(
        "reshape",
        f"the same values in the same order, in another shape: python {list(ref.shape)} vs js "
        f"{list(cand.shape)} (a reshape or flatten on one side){_held(ref, cand)}",
    )
