"""TF's CPU resize kernels (ResizeNearestNeighbor, ResizeBilinear) in numpy, for hints.

A hint tries TF's settings on the Python side; importing TensorFlow for that costs seconds, so
the grid arithmetic of tensorflow/core/kernels/image/resize_*_op.cc is reproduced here in
float32, as TF does it: scale = in / out (or (in - 1) / (out - 1) with align_corners), source
position y * scale (legacy) or (y + 0.5) * scale (- 0.5 for bilinear) with half-pixel centres,
then floor / round (nearest) or lower, upper and lerp (bilinear). tests/test_tf_resize.py checks
it bit for bit against the locked TensorFlow.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def _scale(in_size: int, out_size: int, align_corners: bool, dtype: type = F32) -> np.floating:
    if align_corners and out_size > 1:
        return dtype(in_size - 1) / dtype(out_size - 1)
    return dtype(in_size) / dtype(out_size)


def nearest_index(
    in_size: int, out_size: int, align: bool, half: bool, dtype: type = F32
) -> np.ndarray:
    """The source index of each output row (int64, [out_size]). TF and TF.js's wasm, webgl
    and webgpu backends compute the position in float32; tfjs-backend-cpu's
    ResizeNearestNeighbor in JavaScript numbers (dtype=np.float64)."""
    scale = _scale(in_size, out_size, align, dtype)
    y = np.arange(out_size, dtype=dtype)
    pos = (y + dtype(0.5)) * scale if half else y * scale
    # align_corners rounds (roundf: half away from zero; positions are >= 0), else floors
    idx = np.floor(pos.astype(np.float64) + 0.5) if align else np.floor(pos)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(idx, 0) if half else idx


def _bilinear_weights(
    in_size: int, out_size: int, align: bool, half: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = _scale(in_size, out_size, align)
    y = np.arange(out_size, dtype=F32)
    pos = (y + F32(0.5)) * scale - F32(0.5) if half else y * scale
    floor = np.floor(pos)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(pos).astype(np.int64), in_size - 1)
    return lower, upper, (pos - floor).astype(F32)


def resize(
    x: np.ndarray,
    size: list[int],
    method: str,
    align_corners: bool,
    half_pixel_centers: bool,
) -> np.ndarray:
    """[h, w, c] or [n, h, w, c]; nearest keeps the dtype, bilinear gives float32 (as TF)."""
    batched = x if x.ndim == 4 else x[None]
    h, w = batched.shape[1:3]
    out_h, out_w = size
    if method == "nearest":
        rows = nearest_index(h, out_h, align_corners, half_pixel_centers)
        cols = nearest_index(w, out_w, align_corners, half_pixel_centers)
        out = batched[:, rows][:, :, cols]
    else:
        data = batched.astype(F32)
        top, bottom, y_lerp = _bilinear_weights(h, out_h, align_corners, half_pixel_centers)
        left, right, x_lerp = _bilinear_weights(w, out_w, align_corners, half_pixel_centers)
        xl = x_lerp[None, None, :, None]
        top_rows, bottom_rows = data[:, top], data[:, bottom]
        t = top_rows[:, :, left] + (top_rows[:, :, right] - top_rows[:, :, left]) * xl
        b = bottom_rows[:, :, left] + (bottom_rows[:, :, right] - bottom_rows[:, :, left]) * xl
        out = t + (b - t) * y_lerp[None, :, None, None]
    return out if x.ndim == 4 else out[0]
