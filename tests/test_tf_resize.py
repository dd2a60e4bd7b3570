"""The numpy port of TF's resize kernels used by hints, against TensorFlow itself."""

import numpy as np
import pytest

from harness.core import tf_runtime
from harness.ops.tf_resize import resize

GRIDS = [(False, True), (True, False), (False, False)]
SHAPES = [
    ((300, 484), (224, 224)),
    ((512, 416), (224, 224)),
    ((600, 488), (224, 224)),
    ((7, 5), (13, 11)),
    ((3000, 4), (299, 3)),
    ((64, 64), (64, 64)),
    ((1, 9), (1, 4)),
]


def tf_resize(x, size, method, align_corners, half_pixel_centers):
    tf = tf_runtime.tf()
    op = tf.raw_ops.ResizeNearestNeighbor if method == "nearest" else tf.raw_ops.ResizeBilinear
    return op(
        images=x[None],
        size=size,
        align_corners=align_corners,
        half_pixel_centers=half_pixel_centers,
    ).numpy()[0]


@pytest.mark.parametrize(("grid"), GRIDS, ids=["half-pixel", "align-corners", "legacy"])
@pytest.mark.parametrize(("shape", "size"), SHAPES)
def test_nearest_is_bit_identical_to_tf(shape, size, grid):
    x = np.random.default_rng(1).standard_normal((*shape, 2)).astype(np.float32)
    got = resize(x, list(size), "nearest", *grid)
    np.testing.assert_array_equal(got, tf_resize(x, list(size), "nearest", *grid))


@pytest.mark.parametrize(("grid"), GRIDS, ids=["half-pixel", "align-corners", "legacy"])
@pytest.mark.parametrize(("shape", "size"), SHAPES)
def test_bilinear_is_bit_identical_to_tf(shape, size, grid):
    x = np.random.default_rng(2).standard_normal((*shape, 3)).astype(np.float32)
    got = resize(x, list(size), "bilinear", *grid)
    want = tf_resize(x, list(size), "bilinear", *grid)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)
