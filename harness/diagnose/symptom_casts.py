"""Symptoms of values that one side rounds or holds in another dtype: one side's floats rounded
to whole numbers (kept as floats, or cast to an integer dtype), or the very same values in an
integer dtype on one side and a float one on the other. Each holds for every element or is not
reported, as every detector (symptom_detectors.py)."""

from __future__ import annotations

import numpy as np

from harness.compare.metrics import dtype_family
from harness.diagnose.symptom_detectors import MIN_EVIDENCE, Symptom, beyond_exact


def rounded(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    """One side holds whole numbers where the other holds floats with fractions (at least
    MIN_EVIDENCE of them), and they are those floats rounded one way at every element. Every
    rounding the values cannot tell apart (no ties, no negatives) is named."""
    if ref.shape != cand.shape or "b" in (ref.dtype.kind, cand.dtype.kind):
        return None  # a bool is a threshold or a test, not a rounding
    r64, c64 = ref.astype(np.float64), cand.astype(np.float64)
    if not (np.all(np.isfinite(r64)) and np.all(np.isfinite(c64))) or beyond_exact(ref, cand):
        return None
    r_whole, c_whole = np.all(r64 == np.round(r64)), np.all(c64 == np.round(c64))
    if c_whole and not r_whole:
        floats, ints, f_arr, i_arr, made, kept = r64, c64, ref, cand, "js", "python"
    elif r_whole and not c_whole:
        floats, ints, f_arr, i_arr, made, kept = c64, r64, cand, ref, "python", "js"
    else:
        return None
    if np.count_nonzero(floats != np.round(floats)) < MIN_EVIDENCE:
        return None
    if len(np.unique(ints)) < 2:
        return None  # a constant is no function of the other side's values
    ways = (
        ("to nearest, half to even", np.round(floats)),
        ("to nearest, half away from zero", np.sign(floats) * np.floor(np.abs(floats) + 0.5)),
        ("down (floor)", np.floor(floats)),
        ("toward zero (truncated)", np.trunc(floats)),
        ("up (ceil)", np.ceil(floats)),
    )
    fit = [way for way, values in ways if np.array_equal(values, ints)]
    if not fit:
        return None
    if i_arr.dtype.kind in "iu":
        held = (
            f"held as {i_arr.dtype}: the {made} side casts to integers where the {kept} side "
            f"keeps {f_arr.dtype}"
        )
    else:
        held = f"still {i_arr.dtype}: the {made} side rounds where the {kept} side does not"
    return Symptom("rounded", f"{made} == {kept} rounded {' or '.join(fit)}, {held}")


def dtype_only(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    """The same values at every element, one side in an integer (or bool) dtype and the other
    in a float one: only the dtype differs."""
    if ref.shape != cand.shape or dtype_family(ref.dtype) == dtype_family(cand.dtype):
        return None
    if beyond_exact(ref, cand):  # past a float's exact integers, equal in float64 is no proof
        return None
    if not np.array_equal(ref.astype(np.float64), cand.astype(np.float64), equal_nan=True):
        return None
    return Symptom(
        "dtype_only",
        f"the same values, held as {cand.dtype} by js and {ref.dtype} by python: only the dtype "
        "differs (cast one side to the other's)",
    )
