"""TF (Python) against TF.js for the ops whose settings should make them the same.

These pin down findings, on every backend: float32 normalisation is bit-identical, resize on the
same grid agrees, and one real divergence that only TF.js's cpu backend has (see the last test).
"""

import pytest

from harness.specs.spec import parse

pytestmark = pytest.mark.parity


def tf_pipeline(
    method: str, align_corners: bool, half_pixel_centers: bool, expect: str | None = None
):
    name = f"tf-{method}" + "-align-corners" * align_corners + "-half-pixel" * half_pixel_centers
    grid = {
        "method": method,
        "align_corners": align_corners,
        "half_pixel_centers": half_pixel_centers,
    }
    return parse(
        {
            "name": name + "-legacy" * (not align_corners and not half_pixel_centers),
            "expect": {"divergences": {expect: {"class": "semantic", "max_abs": 1.0}}}
            if expect
            else {},
            "steps": [
                {
                    "op": "normalize",
                    "params": {"mean": "$mean", "std": "$std"},
                    "python": {"precision": "float32"},
                },
                {"op": "resize", "params": {"size": [224, 224], **grid}, "python": {"impl": "tf"}},
            ],
        }
    )


def test_parity_float32_normalize_is_bit_identical_to_tf(parity_run, parity_harness):
    run = parity_run(tf_pipeline("bilinear", False, True), "synthetic_14bit_mono1")
    normalize = run.stages[1]
    assert normalize.chained.max_ulp == 0, normalize.message
    assert (
        parity_harness.environment()["reference_device"].endswith("via TensorFlow (no GPU visible)")
        or "GPU" in parity_harness.environment()["reference_device"]
    )


@pytest.mark.parametrize(
    "grid",
    [
        ("bilinear", False, True),
        ("bilinear", True, False),
        ("bilinear", False, False),
        ("nearest", False, True),
        ("nearest", True, False),
    ],
    ids=[
        "bilinear-half-pixel",
        "bilinear-align-corners",
        "bilinear-legacy",
        "nearest-half-pixel",
        "nearest-align-corners",
    ],
)
def test_parity_resize_on_the_same_grid_agrees_with_tf(parity_run, assert_parity, grid):
    for case in ("examples_overlay", "synthetic_14bit_mono1"):
        assert_parity(parity_run(tf_pipeline(*grid), case))


def test_parity_nearest_legacy_grid_differs_on_tfjs_cpu_only(parity_run, parity_backend):
    """TF.js cpu computes the source row in float64: 300/224*168 = 224.99999999999997 -> row 224;
    TF (and TF.js wasm, webgl, webgpu) compute it in float32: 225.0 -> row 225. One output row."""
    on_cpu = parity_backend.split(":")[0] == "cpu"
    pipeline = tf_pipeline("nearest", False, False, expect="resize" if on_cpu else None)
    run = parity_run(pipeline, "examples_overlay")
    resize = run.stages[2]
    if on_cpu:
        assert run.first_divergence == "resize"
        assert resize.chained.worst_index[0] == 168
        assert 0 < resize.chained.mismatched <= 224  # within that one row of 224 pixels
    else:
        assert run.first_divergence is None
        assert resize.chained.max_abs == 0
