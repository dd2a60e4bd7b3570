"""The float terms (compare/budget.py `Terms`) of each catalogue op and of a user's custom op,
computed on the stage's Python input: what its sums add up and how long they are."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from harness.compare.budget import FLOAT16_MAX, U32, Terms, exact
from harness.ops import tf_resize
from harness.ops.catalogue import PYTHON_OPS

# Where TF.js computes the sampling position of a bilinear resize in float32, it is off by a
# few roundings of a number up to the input size (TF computes it in float32 too): a few ULPs of
# the size, times how fast the image changes there.
POSITION_ROUNDINGS = 6


def step_terms(
    op: str,
    settings: Mapping[str, Any],
    x: np.ndarray | Mapping[str, np.ndarray],
    y: np.ndarray,
    custom: Callable[..., Any] | None = None,
) -> Terms:
    """The terms of one pipeline step given its Python input `x` (a model's: its inputs by
    name, when it has several) and output `y`."""
    beyond = beyond_float16(*(x.values() if isinstance(x, Mapping) else [x]), y)
    if custom is not None:
        return estimated(lambda v: custom(v, **settings), x, y, f"custom op {op}", beyond)
    if op == "normalize":
        mean, std = float(settings["mean"]), float(settings["std"])
        magnitude = (np.abs(x.astype(np.float64)) + abs(mean)) / std
        return Terms(
            magnitude, 2, "(x - mean) / std: 2 roundings of |x| + |mean|", beyond_float16=beyond
        )
    if op == "resize":
        return _resize(settings, x, y, beyond)
    if op == "decode" and settings["values"] == "modality":
        intercept = _rescale_intercept(x)
        magnitude = np.abs(y.astype(np.float64) - intercept) + abs(intercept)
        return Terms(magnitude, 2, "stored x slope + intercept", beyond_float16=beyond)
    if op == "cast" and y.dtype.kind in "iub" and x.dtype.kind == "f":
        return exact("cast to an integer type: exact", beyond)
    if op == "model":
        return Terms(None, 0, "judged by its layers", composite=True, beyond_float16=beyond)
    return exact(f"{op}: moves or converts values, computes none", beyond)


def python_op(op: str, settings: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """The catalogue's Python op; TF's nearest and bilinear resize from the numpy port of its
    kernels (ops/tf_resize.py, checked bit for bit against TF), so that neither a budget
    nor a hint waits seconds for TensorFlow to import."""
    if op == "resize" and settings["impl"] == "tf" and not settings["antialias"]:
        grid = (settings["align_corners"], settings["half_pixel_centers"])
        return tf_resize.resize(x, settings["size"], settings["method"], *grid)
    return PYTHON_OPS[op](x, **settings)


def beyond_float16(*arrays: np.ndarray) -> bool:
    return any(
        a.dtype.kind in "fi"
        and a.size
        and float(np.max(np.abs(a[np.isfinite(a)]), initial=0)) > FLOAT16_MAX
        for a in arrays
    )


def estimated(
    run: Callable[[np.ndarray], Any], x: np.ndarray, y: np.ndarray, what: str, beyond: bool
) -> Terms:
    """An op whose structure the harness does not know (`run`: the op on an input like `x`).

    Reduction length: the larger of input size / output size (a reduction) and how many
    outputs one input reaches (a scan such as cumsum; probed at the first, middle and last
    input). Size of the terms: |f(|x|) - f(0)| + |f(0)| (exactly sum |terms| for an affine
    op such as (x - mean) / std, and for sums and means), and at least |output|."""
    reach = _fan_out(run, x, y)
    length = max(1, int(np.ceil(x.size / max(y.size, 1))), reach)
    magnitude = np.abs(y.astype(np.float64))
    try:
        on_abs = np.asarray(run(np.abs(x)), dtype=np.float64)
        at_zero = np.asarray(run(np.zeros_like(x)), dtype=np.float64)
        if on_abs.shape == y.shape and np.all(np.isfinite(on_abs)) and np.all(np.isfinite(at_zero)):
            magnitude = np.maximum(magnitude, np.abs(on_abs - at_zero) + np.abs(at_zero))
    except Exception:  # the op may refuse |x| or zeros: |output| stands in
        pass
    return Terms(
        magnitude,
        length,
        f"estimated for {what}: {length} term(s) per element (from the sizes and how far one "
        "input reaches), their size from the op run on |input| and on zeros",
        estimated=True,
        beyond_float16=beyond,
        shared=reach > 1,
    )


def _fan_out(run: Callable[[np.ndarray], Any], x: np.ndarray, y: np.ndarray) -> int:
    """The most outputs one input element changes, of the first, middle and last."""
    if x.size == 0 or x.dtype.kind not in "fiu":
        return 1
    reached = 1
    base = np.asarray(y, dtype=np.float64)
    for i in {0, x.size // 2, x.size - 1}:
        probe = np.array(x, copy=True).reshape(-1)
        probe[i] = probe[i] + (1 if x.dtype.kind in "iu" else max(1.0, abs(float(probe[i]))))
        try:
            changed = np.asarray(run(probe.reshape(x.shape)), dtype=np.float64)
        except Exception:  # the op refuses the probe: no evidence of a longer reach
            continue
        if changed.shape == base.shape:
            with np.errstate(invalid="ignore"):
                reached = max(reached, int(np.count_nonzero(changed != base)))
    return reached


def _resize(settings: Mapping[str, Any], x: np.ndarray, y: np.ndarray, beyond: bool) -> Terms:
    def resize(v: np.ndarray, **kw: Any) -> np.ndarray:
        return np.asarray(python_op("resize", kw, v))

    nearest = (
        settings["order"] == 0 if settings["impl"] == "skimage" else settings["method"] == "nearest"
    )
    if nearest:  # a copy of one input pixel; picking another pixel is no rounding error
        return exact("nearest-neighbour resize: copies input pixels", beyond)
    x64 = x.astype(np.float64)
    magnitude = np.abs(resize(np.abs(x64), **settings))
    spatial = x.shape[-3:-1] if x.ndim >= 3 else x.shape
    taps = 4
    if settings["impl"] == "skimage" and _antialiased(settings, spatial):
        for size_in, size_out in zip(spatial, settings["size"], strict=False):
            sigma = max(0.0, (size_in / size_out - 1) / 2)
            taps += 2 * int(4 * sigma + 0.5) + 1
    local = _local_range(x64)
    position = POSITION_ROUNDINGS * U32 * max(spatial) * np.abs(resize(local, **settings))
    return Terms(
        magnitude,
        taps,
        f"bilinear resize: {taps} weighted terms per pixel, plus float32 sampling positions",
        position=position,
        beyond_float16=beyond,
    )


def _antialiased(settings: Mapping[str, Any], spatial: tuple[int, ...]) -> bool:
    aa = settings["anti_aliasing"]
    if aa is None:  # skimage's default: anti-alias when shrinking
        return any(o < i for o, i in zip(settings["size"], spatial, strict=False))
    return bool(aa)


def _local_range(x: np.ndarray) -> np.ndarray:
    """max - min over each pixel's 3x3 neighbourhood (spatial axes only): how much the image
    changes between neighbouring samples."""
    from scipy import ndimage

    size = [1] * x.ndim
    for axis in (-3, -2) if x.ndim >= 3 else (0, 1):
        size[axis] = 3
    return ndimage.maximum_filter(x, size=size, mode="nearest") - ndimage.minimum_filter(
        x, size=size, mode="nearest"
    )


def _rescale_intercept(file: np.ndarray) -> float:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(file.tobytes()), stop_before_pixels=True, force=True)
    return float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
