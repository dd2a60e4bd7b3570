"""Evidence of the entries about numbers and kernels: int32 past 2^24, float16 range, cpu
nearest rows, argMax ties, wasm clip and cast, log(0) on webgl, pipeline-file settings."""

from __future__ import annotations

import numpy as np

from harness.diagnose.known.helpers import _close, _differ, _f64, _spatial
from harness.diagnose.known.model import (
    CPU_HANDOFF,
    EXACT_F32,
    F16_MAX,
    F16_TINY,
    GRIDS,
    Found,
    Seen,
)
from harness.ops import tf_resize


def _int_beyond_f32(seen: Seen) -> str | None:
    r, c = np.asarray(seen.reference), np.asarray(seen.candidate)
    if r.dtype.kind not in "iu" or c.dtype.kind not in "iu":
        return None
    diff = _differ(seen)
    if diff is None:
        return None
    if r.size < CPU_HANDOFF.get(seen.base, 0):
        return None  # small enough to have run on the CPU kernels, exactly: cannot tell
    rv, cv = r[diff].astype(np.int64), c[diff].astype(np.int64)
    if np.any(np.abs(rv) <= EXACT_F32):
        return None  # an integer below 2^24 is exact in float32: another cause
    if np.any(cv.astype(np.float32).astype(np.int64) != cv):
        return None  # a value float32 cannot hold did not come through float32
    step = np.spacing(np.abs(rv).astype(np.float32)).astype(np.int64)
    if np.any(np.abs(cv - rv) > step):
        return None
    rounded = rv.astype(np.float32).astype(np.int64)
    if len(np.unique(cv - rv)) == 1 and not np.array_equal(cv, rounded):
        return None  # one constant offset, not float32's rounding: another cause
    return (
        f"{int(diff.sum())} of {r.size} int32 values differ, every one above 2^24 "
        f"(up to {int(np.abs(rv).max())}), each js value a float32 value within one float32 "
        f"step of python's (up to {int(step.max())})"
    )


def _float16_range(seen: Seen) -> str | None:
    if "f16" not in seen.backend:
        return None
    diff = _differ(seen)
    if diff is None:
        return None
    r, c = _f64(seen.reference), _f64(seen.candidate)
    peak = max([float(np.max(np.abs(a[np.isfinite(a)]), initial=0))
                for a in (r, *map(_f64, seen.inputs))])  # fmt: skip
    over = diff & ~np.isfinite(c) & np.isfinite(r)
    under = diff & (c == 0) & (r != 0) & (np.abs(r) < F16_TINY)
    rest = diff & ~over & ~under
    if np.any(np.abs(c[rest] - r[rest]) > 2.0**-8 * max(peak, F16_TINY)):
        return None  # other elements differ by more than float16 rounding: another cause
    said = []
    if over.any():
        if peak <= F16_MAX:
            return None  # nothing here is past float16's range: not an overflow
        said.append(
            f"{int(over.sum())} value(s) are Inf or NaN on js and finite on python, where "
            f"values reach {peak:.6g} (float16's largest is 65504)"
        )
    if under.sum() >= 1:
        said.append(
            f"{int(under.sum())} value(s) below float16's smallest normal (6.1e-05) are 0 on js"
        )
    return "; ".join(said) or None


def _nearest_f64(seen: Seen) -> str | None:
    if seen.x is None:
        return None
    shaped = _spatial(seen.x, seen.reference)
    if shaped is None or _differ(seen) is None:
        return None
    x, size = shaped
    cand = np.asarray(seen.candidate)
    cand = cand if cand.ndim == 4 else cand[None]
    ref = np.asarray(seen.reference)
    ref = ref if ref.ndim == 4 else ref[None]
    for (ac, hp), name in GRIDS.items():
        rows32 = tf_resize.nearest_index(x.shape[1], size[0], ac, hp)
        cols32 = tf_resize.nearest_index(x.shape[2], size[1], ac, hp)
        rows64 = tf_resize.nearest_index(x.shape[1], size[0], ac, hp, np.float64)
        cols64 = tf_resize.nearest_index(x.shape[2], size[1], ac, hp, np.float64)
        if np.array_equal(rows32, rows64) and np.array_equal(cols32, cols64):
            continue
        if not np.array_equal(x[:, rows32][:, :, cols32], ref):
            continue
        if np.array_equal(x[:, rows64][:, :, cols64], cand):
            rows = np.flatnonzero(rows32 != rows64).tolist()
            cols = np.flatnonzero(cols32 != cols64).tolist()
            where = ", ".join(
                f"{axis} {at[:5]}" for axis, at in (("rows", rows), ("columns", cols)) if at
            )
            return (
                f"nearest-neighbour resize on the {name} grid: at output {where} js picks "
                "the source index float64 arithmetic gives, python the one float32 gives; "
                "every other value agrees"
            )
    return None


def _argmax_ties(seen: Seen) -> Found | None:
    x, r, c = seen.x, np.asarray(seen.reference), np.asarray(seen.candidate)
    if x is None or r.dtype.kind not in "iu" or c.dtype.kind not in "iu":
        return None
    diff = _differ(seen)
    if diff is None:
        return None
    x = np.asarray(x)
    for axis in range(x.ndim):
        if np.delete(np.array(x.shape), axis).tolist() != list(r.shape):
            continue
        n = x.shape[axis]
        if r.min() < 0 or c.min() < 0 or r.max() >= n or c.max() >= n:
            continue
        moved = np.moveaxis(x, axis, -1)
        at_c = np.take_along_axis(moved, c[..., None].astype(np.int64), -1)[..., 0]
        for first, pick, word, op in ((np.argmax, np.max, "maxima", "Max"),
                                      (np.argmin, np.min, "minima", "Min")):  # fmt: skip
            if not np.array_equal(first(moved, axis=-1), r):
                continue  # python's is not the first of this axis's extremes
            best = pick(moved, axis=-1)
            if np.all(at_c == best):
                reduce = "max" if op == "Max" else "min"
                return Found(
                    f"{int(diff.sum())} of {r.size} indices differ; at each the input holds "
                    f"tied {word} along axis {axis}: python's index is the first of them, "
                    "js's another",
                    fix_js=(
                        f"make the first {word[:-1]}um win: tf.arg{op}(tf.equal(x, "
                        f"x.{reduce}({axis}, true)).cast('int32').mul(tf.range({n}, 0, -1, "
                        f"'int32').reshape({_axis_shape(x.ndim, axis, n)})), {axis}) (the "
                        "first tied element gets the largest weight)."
                    ),
                )
    return None


def _axis_shape(ndim: int, axis: int, n: int) -> list[int]:
    shape = [1] * ndim
    shape[axis] = n
    return shape


def _wasm_clip_int(seen: Seen) -> str | None:
    x = seen.x
    diff = _differ(seen)
    if x is None or diff is None or np.asarray(x).shape != np.asarray(seen.reference).shape:
        return None
    x, r, c = _f64(x), _f64(seen.reference), _f64(seen.candidate)
    lo, hi = r.min(), r.max()
    if not np.all(c[diff] == x[diff]) or not np.all((r[diff] == lo) | (r[diff] == hi)):
        return None
    if not np.all((x[diff] < lo) | (x[diff] > hi)):
        return None
    return (
        f"{int(diff.sum())} value(s) outside [{lo:g}, {hi:g}] come out of js as they went in "
        f"(up to {float(np.max(np.abs(x[diff]))):g}); python clipped them"
    )


def _wasm_cast_bool(seen: Seen) -> str | None:
    r, c = np.asarray(seen.reference), np.asarray(seen.candidate)
    diff = _differ(seen)
    if diff is None or c.dtype.kind != "b":
        return None
    if not (np.all(r[diff].astype(bool)) and not np.any(c[diff])):
        return None
    x = seen.x
    if x is None or np.asarray(x).shape != r.shape:
        return None
    # a typed-array set into a Uint8Array: ToUint8, the integer part modulo 256 (NaN, Inf: 0)
    xv = _f64(x)
    whole = np.trunc(np.where(np.isfinite(xv), xv, 0))
    low_byte = np.mod(whole, 256) != 0
    if not np.array_equal(c.astype(bool), low_byte):
        return None
    example = float(xv[diff].ravel()[0])
    return (
        f"{int(diff.sum())} nonzero input value(s) whose integer part is a multiple of 256 "
        f"(e.g. {example:g}) are false on js and true on python; every js value is "
        "(integer part mod 256) != 0: the cast kept only the low byte"
    )


def _log_zero(seen: Seen) -> str | None:
    diff = _differ(seen)
    if diff is None:
        return None
    r, c = _f64(seen.reference), _f64(seen.candidate)
    if not (np.all(np.isneginf(r[diff])) and np.all(np.isfinite(c[diff]))):
        return None
    # a float32 log of 0 made finite lands at log of the smallest float32s: -87.3 (normal)
    # down to -103.3 (subnormal); a user's epsilon (log(x + 1e-30) = -69.1) lands elsewhere
    if np.any(c[diff] > -80) or np.any(c[diff] < -104):
        return None
    if r.size < CPU_HANDOFF["webgl"]:
        return None  # small enough to have run on the CPU kernel, which gives -Infinity
    x = seen.x
    if x is not None and np.asarray(x).shape == r.shape and not np.all(_f64(x)[diff] == 0):
        return None
    return (
        f"{int(diff.sum())} value(s) are -Infinity on python (log of 0) and finite on js "
        f"(e.g. {c[diff].ravel()[0]:g})"
    )


def _pipeline_settings(seen: Seen) -> str | None:
    if not seen.differing or seen.rerun is None:
        return None
    js_values = {k: j for k, (_, j) in seen.differing.items()}
    y = np.asarray(seen.rerun(js_values))
    if not _close(y, seen.candidate, 1e-5):
        return None  # Python with JS's values does not give JS's output: not (only) this
    said = "; ".join(f"python {k}={p!r}, js {k}={j!r}" for k, (p, j) in seen.differing.items())
    return f"{said}; Python's op with js's value(s) gives the JS output"
