"""Symptoms of the same values laid out otherwise: a transpose, the first three channels
reversed, a size-1 axis added or dropped, a crop or pad (one array a window of the other), a
reshape or flatten. These compute nothing, so each element must hold the same value on both
sides (`same_values`: within a few ULP of the narrower float dtype of the two), and
each relation is said only when it holds for every element and in one way only."""

from __future__ import annotations

import itertools

import numpy as np

from harness.diagnose.symptom_detectors import MIN_EVIDENCE, Symptom, _differs

MAX_WINDOWS = 1 << 16  # placements of the smaller array tried, at most (256x256 offsets)
ULPS = 4  # float32 ULP two values held as floats may be apart and still be "the same value"
PROBES = 16  # elements of the smaller array tried first, at every placement at once
MAX_CANDIDATES = 64  # placements past the probes compared in full, at most


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Element for element the same value: integers (and bools) exactly; where floats are
    involved, within ULPS ULP of the larger magnitude in the narrower float dtype of the two
    (a float64 side rounded to float32 is the same value; 5% off is not; two float64 sides
    nearly exactly); NaN with NaN, an infinity with the same."""
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        return bool(np.array_equal(a, b))  # no float64 detour: uint64 past 2^53 stays exact
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    both = np.isfinite(a64) & np.isfinite(b64)
    if not np.array_equal(a64[~both], b64[~both], equal_nan=True):
        return False
    floats = [d for d in (a.dtype, b.dtype) if d.kind == "f"]
    narrow = min(floats, key=lambda d: d.itemsize).type
    x, y = a64[both], b64[both]
    big = np.maximum(np.abs(x), np.abs(y)).astype(narrow)
    return bool(np.all(np.abs(x - y) <= ULPS * np.spacing(big).astype(np.float64)))


def held(ref: np.ndarray, cand: np.ndarray) -> str:
    """', held as int32 by js and float32 by python' where the dtypes differ."""
    if ref.dtype == cand.dtype:
        return ""
    return f", held as {cand.dtype} by js and {ref.dtype} by python"


def transpose(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    if ref.ndim < 2 or ref.ndim > 5 or sorted(ref.shape) != sorted(cand.shape):
        return None
    if not _differs(ref, cand):
        return None
    identity = tuple(range(ref.ndim))
    for perm in itertools.permutations(identity):
        if perm == identity or tuple(ref.shape[p] for p in perm) != cand.shape:
            continue
        moved = np.transpose(ref, perm)
        corner = (0,) * (ref.ndim - 1)  # one line first: most orders fail there, cheaply
        if not same_values(moved[corner], cand[corner]):
            continue
        if same_values(moved, cand) and (
            moved.shape != ref.shape or np.sum(moved != ref) >= MIN_EVIDENCE
        ):
            return Symptom("transpose", f"js == python transposed {perm}{held(ref, cand)}")
    return None


def channels(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    if ref.shape != cand.shape or ref.ndim < 2 or ref.shape[-1] not in (3, 4):
        return None
    if not _differs(ref, cand):
        return None
    flipped = ref.copy()
    flipped[..., :3] = ref[..., 2::-1]
    if same_values(flipped, cand):
        return Symptom(
            "channels_reversed",
            f"js == python with its first three channels reversed (RGB <-> BGR){held(ref, cand)}",
        )
    return None


def batch_axis(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    if ref.shape == cand.shape or ref.size != cand.size:
        return None
    if np.squeeze(ref).shape != np.squeeze(cand).shape:
        return None
    if not same_values(np.squeeze(ref), np.squeeze(cand)):
        return None
    return Symptom(
        "batch_axis",
        f"same values, shape python {list(ref.shape)} vs js {list(cand.shape)}: a size-1 axis "
        f"(a batch axis) added or dropped on one side{held(ref, cand)}",
    )


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
    passing = np.nonzero(_placements(big, small))
    if passing[0].size > MAX_CANDIDATES:
        return None  # a repetitive or uniform image: placements the arrays cannot tell apart
    fits = []
    for start in zip(*passing, strict=True):
        window = tuple(slice(o, o + n) for o, n in zip(start, small.shape, strict=True))
        if same_values(big[window], small):
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
        f"padded), shape python {list(ref.shape)} vs js {list(cand.shape)}{held(ref, cand)}",
    )


def _placements(big: np.ndarray, small: np.ndarray) -> np.ndarray:
    """Per placement of `small` in `big` (a boolean array over the offsets): whether it holds
    the same values at `small`'s most telling elements (its first, and those furthest from it:
    a uniform border matches everywhere, these do not). All placements at once, one slice of
    `big` per probe."""
    counts = tuple(b - s + 1 for b, s in zip(big.shape, small.shape, strict=True))
    flat = small.astype(np.float64).ravel()
    spread = np.nan_to_num(np.abs(flat - flat[0]), nan=np.inf, posinf=np.inf)
    order = np.concatenate([[0], np.argsort(-spread, kind="stable")[: PROBES - 1]])
    fits = np.ones(counts, dtype=bool)
    for probe in zip(*np.unravel_index(order, small.shape), strict=True):
        area = tuple(slice(p, p + n) for p, n in zip(probe, counts, strict=True))
        fits &= _close(big[area], small[tuple(probe)])
    return fits


def _close(values: np.ndarray, value: object) -> np.ndarray:
    """`same_values`, element by element, of `values` against one value."""
    x = values.astype(np.float64)
    v = float(value)  # type: ignore[arg-type]
    if not np.isfinite(v):
        return np.isnan(x) if np.isnan(v) else x == v
    big = np.maximum(np.abs(x), abs(v)).astype(np.float32)
    return np.isfinite(x) & (np.abs(x - v) <= ULPS * np.spacing(big).astype(np.float64))


def reshape(ref: np.ndarray, cand: np.ndarray) -> Symptom | None:
    """The same elements in the same (row-major) order, in another shape that is not the same
    one with size-1 axes added or dropped (that is `batch_axis`): a reshape or a flatten."""
    if ref.shape == cand.shape or ref.size != cand.size or ref.size < MIN_EVIDENCE:
        return None
    if np.squeeze(ref).shape == np.squeeze(cand).shape:
        return None
    if not same_values(ref.ravel(), cand.ravel()):
        return None
    return Symptom(
        "reshape",
        f"the same values in the same order, in another shape: python {list(ref.shape)} vs js "
        f"{list(cand.shape)} (a reshape or flatten on one side){held(ref, cand)}",
    )
