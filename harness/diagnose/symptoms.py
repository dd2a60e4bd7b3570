"""Symptoms read off the two arrays alone: what the candidate is, as a function of the
reference, when the harness knows nothing of the code that made them (taps, custom ops).

Each detector tries one simple relation (a transpose, reversed channels, a scale, an offset,
a shift by one, a batch axis, clipping, a byte wrap, .5 rounding; a crop, a reshape, floats
rounded to whole numbers, the same values in another dtype) and reports it only when it
holds for every element (within float32 rounding where the relation computes: a scale or an
offset): a relation that explains part of the array is not a finding. `symptoms` returns what
held, most specific first; an empty list means none did, and the caller says so.
"""

from __future__ import annotations

import numpy as np

from harness.diagnose.symptom_casts import dtype_only, rounded
from harness.diagnose.symptom_detectors import DETECTORS, Symptom
from harness.diagnose.symptom_windows import batch_axis, channels, crop, reshape, transpose

MIN_DISTINCT = 3  # values python's array must hold for any relation to be told apart


def symptoms(reference: np.ndarray, candidate: np.ndarray) -> list[Symptom]:
    """The relations `candidate == f(reference)` that hold for every element."""
    ref = np.asarray(reference)
    cand = np.asarray(candidate)
    if ref.size == 0 or cand.size == 0 or ref.dtype.kind not in "biuf":
        return []
    if cand.dtype.kind not in "biuf":
        return []
    if len(np.unique(ref[np.isfinite(ref)] if ref.dtype.kind == "f" else ref)) < MIN_DISTINCT:
        return []  # a constant, binary or one-hot reference fits too many relations to tell
    found: list[Symptom] = []
    with np.errstate(all="ignore"):
        layout = (batch_axis, transpose, channels)
        for detect in (*layout, *DETECTORS, crop, reshape, rounded, dtype_only):
            try:
                s = detect(ref, cand)
            except (ValueError, OverflowError, FloatingPointError, np.linalg.LinAlgError):
                s = None  # a detector that cannot read these values sees nothing
            if s is not None:
                found.append(s)
    if len(found) > 1:  # the arrays alone cannot tell these apart: say so, claim none
        return [
            Symptom(
                "ambiguous",
                "several relations fit these arrays ("
                + "; ".join(f.text for f in found)
                + "): the arrays alone cannot tell which happened",
            )
        ]
    return found


def symptom_hints(reference: np.ndarray, candidate: np.ndarray) -> list[dict[str, str]]:
    """The symptoms of two arrays as hints (`source: symptom`); [] when none holds (no guess)
    or when they cannot be read: diagnosis never breaks a run."""
    try:
        return [s.to_dict() for s in symptoms(reference, candidate)]
    except Exception:
        return []
