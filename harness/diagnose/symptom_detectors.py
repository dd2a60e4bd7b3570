"""The symptom detectors of values that change, one relation each (a shift by one, a scale or
offset, clipping, a byte wrap, .5 rounding), in the order `symptoms` tries them (DETECTORS),
the Symptom each reports, and the element-wise tests they share. The same values laid out or
held otherwise are symptom_windows.py's and symptom_casts.py's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# relative tolerance for a relation that computes (a scale, an offset): a few float32 roundings
RTOL = 1e-5
MIN_EVIDENCE = 5  # elements a relation must be seen at (where it changes something)


@dataclass(frozen=True)
class Symptom:
    kind: str  # transpose, channels_reversed, scale, offset, affine, shift, batch_axis, ...
    text: str  # what was seen, in the array's terms ("js == python transposed (1, 0, 2)")

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text, "source": "symptom"}


def _scale(a: np.ndarray, b: np.ndarray) -> float:
    """The larger magnitude of the two arrays."""
    a64, b64 = np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64))
    return max(float(np.max(a64, initial=0)), float(np.max(b64, initial=0)))


def _agreeing(a: np.ndarray, b: np.ndarray) -> int:
    """How many elements agree within RTOL of the arrays' scale (NaN with NaN)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    atol = RTOL * max(_scale(a, b), 1e-30)
    return int(np.count_nonzero(np.isclose(a64, b64, rtol=0, atol=atol, equal_nan=True)))


def _same(a: np.ndarray, b: np.ndarray, rtol: float = 0.0, scale: np.ndarray | None = None) -> bool:
    """Equal (NaN with NaN), or, when rtol > 0, within rtol of each element's own magnitude:
    the larger of the two values there, or `scale` there where larger (the terms of the sum
    that made it: a * x and b of an affine relation, which can cancel). A small element off
    by 5% beside a large one is not "the same". Integers (a relation computed on integers
    gives integers) within half a unit, whatever rtol."""
    if a.shape != b.shape:
        return False
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if _integers(a) and _integers(b):
        return bool(np.all(np.abs(a64 - b64) < 0.5))
    if rtol == 0:
        return bool(np.array_equal(a64, b64, equal_nan=True))
    with np.errstate(invalid="ignore"):
        size = np.maximum(np.abs(a64), np.abs(b64))
        if scale is not None:
            size = np.maximum(size, scale)
        return bool(
            np.all(
                (np.abs(a64 - b64) <= rtol * size) | (np.isnan(a64) & np.isnan(b64)) | (a64 == b64)
            )
        )


def _integers(a: np.ndarray) -> bool:
    return a.dtype.kind in "iub"


def _differs(ref: np.ndarray, cand: np.ndarray) -> bool:
    return not (ref.shape == cand.shape and _same(ref, cand, RTOL))


def _fit(ref: np.ndarray, cand: np.ndarray) -> tuple[float, float] | None:
    """cand == a * ref + b by least squares, when it holds for every element."""
    if ref.shape != cand.shape or ref.size < 2:
        return None
    x, y = ref.astype(np.float64).ravel(), cand.astype(np.float64).ravel()
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all() or np.ptp(x) == 0:
        return None
    if np.ptp(y) == 0:
        return None  # a constant candidate is no function of python's values
    a, b = np.polyfit(x, y, 1)
    if _integers(ref) and _integers(cand):  # integers: exactly, to the unit
        whole = (float(np.round(a)), float(np.round(b)))
        if np.array_equal(whole[0] * x + whole[1], y):
            return whole  # polyfit's float rounding aside, an integer relation
        if not np.all(np.abs(a * x + b - y) < 0.5):
            return None
    else:
        # the fit's own noise (python's side rounded to float32 moves the intercept by ~1e-5)
        # is no offset or scale: snapped as `_linear` would name them, then each element is
        # judged against its own terms, not against the largest value
        if abs(b) <= RTOL * 10 * max(float(np.max(np.abs(x))), 1e-30):
            b = 0.0
        if abs(a - 1) <= RTOL * 10:
            a = 1.0
        terms = np.maximum(np.abs(a * x), 1e-6 * float(np.max(np.abs(y)))).reshape(ref.shape)
        if not _same(a * x.reshape(ref.shape) + b, cand, RTOL, terms):
            return None
    return float(a), float(b)


NICE = (("255", 255.0), ("1/255", 1 / 255), ("65535", 65535.0), ("1/65535", 1 / 65535),
        ("2", 2.0), ("1/2", 0.5), ("-1", -1.0))  # fmt: skip


def _nice(k: float) -> str:
    for name, value in NICE:
        if abs(k - value) <= RTOL * 10 * abs(value):
            return name
    return f"{k:.6g}"


def _linear(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    if not _differs(ref, cand):
        return None
    fit = _fit(ref, cand)
    if fit is None:
        return None
    a, b = fit
    scale = max(float(np.max(np.abs(ref), initial=0)), 1e-30)
    no_offset = abs(b) <= RTOL * 10 * scale
    unit_scale = abs(a - 1) <= RTOL * 10
    if _integers(ref) and _integers(cand):  # integers: an offset of 1 is an offset
        no_offset = abs(b) < 0.5
        unit_scale = abs(a - 1) * scale < 0.5
    if no_offset and not unit_scale:
        return Symptom("scale", f"js == python x {_nice(a)}")
    if unit_scale and not no_offset:
        return Symptom("offset", f"js == python {'+' if b > 0 else '-'} {abs(b):.6g}")
    if not unit_scale:
        return Symptom(
            "affine",
            f"js == {a:.6g} x python {'+' if b > 0 else '-'} {abs(b):.6g}: a different "
            "scale and offset (e.g. a mean or std that differs between the two sides)",
        )
    return None


def _shift(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    if ref.shape != cand.shape or not _differs(ref, cand):
        return None
    for axis in range(ref.ndim):
        if ref.shape[axis] < 3:
            continue
        n = ref.shape[axis]
        for step in (1, -1):
            a = np.take(ref, range(0, n - 1) if step == 1 else range(1, n), axis=axis)
            b = np.take(cand, range(1, n) if step == 1 else range(0, n - 1), axis=axis)
            moved = np.take(ref, range(1, n) if step == 1 else range(0, n - 1), axis=axis)
            seen = int(np.sum(a != moved))  # where a shift changes anything
            if seen < max(MIN_EVIDENCE, 0.1 * a.size):
                continue  # python's values barely change along this axis: a shift cannot show
            unmoved = np.take(cand, range(0, n - 1) if step == 1 else range(1, n), axis=axis)
            if _agreeing(a, unmoved) > 0.9 * a.size:
                continue  # js mostly matches python unshifted: a shift explains nothing
            if _same(a, b, RTOL):
                direction = "towards higher indices" if step == 1 else "towards lower indices"
                return Symptom(
                    "shift",
                    f"js == python shifted by one along axis {axis} ({direction}); the edge "
                    "slice differs",
                )
    return None


def _mismatch(ref: np.ndarray, cand: np.ndarray) -> np.ndarray | None:
    if ref.shape != cand.shape:
        return None
    diff = ~np.isclose(ref.astype(np.float64), cand.astype(np.float64), rtol=0, atol=0)
    return diff if diff.any() else None


def _clip(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    diff = _mismatch(ref, cand)
    if diff is None:
        return None
    if diff.sum() < MIN_EVIDENCE or diff.all():  # a clip leaves the values inside it alone
        return None
    r, c = ref[diff].astype(np.float64), cand[diff].astype(np.float64)
    if beyond_exact(ref, cand) and np.all(r == np.round(r)) and np.all(c == np.round(c)):
        return None  # whole numbers past exact: a float's spacing, not a bound
    for side, held, other, whole in (("js", c, r, cand), ("python", r, c, ref)):
        bound = held[0]
        if not np.all(held == bound):
            continue
        above = np.all(other > bound) and bound == float(np.max(whole))
        below = np.all(other < bound) and bound == float(np.min(whole))
        if above or below:
            which = "above" if above else "below"
            return Symptom(
                "clip",
                f"{side} clipped at {bound:g}: the other side has {diff.sum()} value(s) "
                f"{which} it (up to {other.max() if which == 'above' else other.min():g})",
            )
    return None


def _byte_wrap(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    diff = _mismatch(ref, cand)
    if diff is None or ref.dtype.kind not in "iuf" or cand.dtype.kind not in "iuf":
        return None
    exact = 2.0**24 if "f" in (ref.dtype.kind, cand.dtype.kind) else 2.0**53
    values = np.concatenate([ref.ravel(), cand.ravel()]).astype(np.float64)
    if not np.all(np.isfinite(values)) or np.max(np.abs(values)) >= exact:
        return None  # beyond exact integers, a float's own spacing is a power of two
    d = cand[diff].astype(np.float64) - ref[diff].astype(np.float64)
    if not np.all(d == np.round(d)):
        return None
    d = np.abs(d).astype(np.int64)
    bits = min(int(np.log2(v & -v)) for v in d)  # the lowest power of two dividing them all
    if bits < 8:
        return None
    return Symptom(
        "byte_wrap",
        f"values differ by multiples of 2^{bits} only: integers wrapped or truncated to "
        f"{bits} bits on one side",
    )


def beyond_exact(ref: np.ndarray, cand: np.ndarray) -> bool:
    """Some value is a whole number past the float side's exact integers (2^24 in float32,
    2^53 in float64): there a float's own spacing looks like rounding or clipping."""
    if "f" not in (ref.dtype.kind, cand.dtype.kind):
        return False
    exact = 2.0**24 if np.float32 in (ref.dtype.type, cand.dtype.type) else 2.0**53
    values = np.concatenate([ref.ravel(), cand.ravel()]).astype(np.float64)
    finite = values[np.isfinite(values)]
    return bool(finite.size and np.max(np.abs(finite)) >= exact)


def _half_rounding(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    diff = _mismatch(ref, cand)
    if diff is None or beyond_exact(ref, cand):
        return None
    r, c = ref[diff].astype(np.float64), cand[diff].astype(np.float64)
    if not (np.all(r == np.round(r)) and np.all(c == np.round(c))):
        return None
    if not np.all(np.abs(r - c) == 1) or diff.mean() > 0.5 or diff.sum() < MIN_EVIDENCE:
        return None
    for side, values, other in (("python", r, "js"), ("js", c, "python")):
        if np.all(values % 2 == 0):
            return Symptom(
                "half_rounding",
                f"integers off by one at {diff.sum()} element(s), {side}'s even at every one: "
                f".5 ties rounded half to even on the {side} side, away from it on the "
                f"{other} side",
            )
    return None


DETECTORS: tuple[Callable[[np.ndarray, np.ndarray], Symptom | None], ...] = (
    _shift,
    _linear,
    _clip,
    _byte_wrap,
    _half_rounding,
)
