"""The built-in op catalogue's Python side: each op's implementation on numpy arrays.

Its settings are in harness/specs/op_schemas.py; the JS implementations are in web/page/ops.js
under the same names (a parity test checks the lists agree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from harness.core import tf_runtime
from harness.ops.tf_models import model
from harness.specs.extensions import WithExtensions
from harness.specs.op_schemas import TF_ONLY

# ----------------------------------------------------------------------------- Python side


def normalize(x: np.ndarray, mean: float, std: float, precision: str) -> np.ndarray:
    if precision == "float64":
        # The motivating code: x.astype(float), then numpy arithmetic in float64.
        return (x.astype(np.float64) - mean) / std
    tf = tf_runtime.tf()
    with tf_runtime.device():
        t = tf.cast(tf.convert_to_tensor(x), tf.float32)
        return ((t - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)).numpy()


def resize(x: np.ndarray, size: list[int], impl: str, **settings: Any) -> np.ndarray:
    if impl == "skimage":
        from skimage.transform import resize as sk_resize

        return sk_resize(
            x,
            tuple(size),
            order=settings["order"],
            mode=settings["mode"],
            anti_aliasing=settings["anti_aliasing"],
            preserve_range=settings["preserve_range"],
        )
    return _tf_resize(x, size, **{k: settings[k] for k in TF_ONLY})


def _tf_resize(
    x: np.ndarray,
    size: list[int],
    method: str,
    align_corners: bool,
    half_pixel_centers: bool,
    antialias: bool,
) -> np.ndarray:
    if x.ndim not in (3, 4):
        raise ValueError(f"resize needs [h, w, c] or [n, h, w, c], got shape {list(x.shape)}")
    tf = tf_runtime.tf()
    batched = x if x.ndim == 4 else x[None]
    with tf_runtime.device():
        if antialias:
            out = tf.image.resize(batched, size, method=method, antialias=True)
        elif method == "nearest":
            out = tf.raw_ops.ResizeNearestNeighbor(
                images=batched,
                size=size,
                align_corners=align_corners,
                half_pixel_centers=half_pixel_centers,
            )
        else:
            out = tf.raw_ops.ResizeBilinear(
                images=batched,
                size=size,
                align_corners=align_corners,
                half_pixel_centers=half_pixel_centers,
            )
        out = out.numpy()
    return out if x.ndim == 4 else out[0]


def tile(x: np.ndarray, reps: list[int]) -> np.ndarray:
    if len(reps) != x.ndim:
        # tf.tile (both sides of the real code) demands one rep per axis; np.tile would pad.
        raise ValueError(f"tile needs one rep per axis: reps {reps} for shape {list(x.shape)}")
    return np.tile(x, reps)


def expand_dims(x: np.ndarray, axis: int) -> np.ndarray:
    return np.expand_dims(x, axis)


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    return x.astype(dtype)


BUILT_IN: dict[str, Callable[..., np.ndarray]] = {
    "normalize": normalize,
    "resize": resize,
    "tile": tile,
    "expand_dims": expand_dims,
    "cast": cast,
    "model": model,
}
# the built-in ops, and those the installed extensions add (DICOM's `decode`)
PYTHON_OPS: Mapping[str, Callable[..., np.ndarray]] = WithExtensions(BUILT_IN, "python_ops")
