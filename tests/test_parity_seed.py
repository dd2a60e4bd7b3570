"""The motivating DICOM preprocessing, on every backend: the harness must find what is wrong."""

import pytest

CASES = ["examples_overlay", "synthetic_12bit_mono1", "synthetic_14bit_mono1"]


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_parity_seed_matched_agrees_with_python(parity_run, assert_parity, case):
    run = parity_run("seed-matched", case)
    assert_parity(run)
    assert [s.verdict for s in run.stages] == ["pass"] * 5
    assert [s.own_error_class for s in run.stages] == ["none", "float32", "float32", "none", "none"]


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_parity_seed_first_diverges_at_resize(parity_run, case):
    run = parity_run("seed", case)
    assert run.status == "ok", run.reason
    assert run.first_divergence == "resize"
    stages = {s.name: s for s in run.stages}
    # the input bytes arrived intact and float32 normalisation is within float32 rounding ...
    assert stages["input"].chained.max_abs == 0
    assert stages["normalize"].verdict == "pass"
    # ... while nearest-neighbour on TF.js's legacy grid is not skimage's smoothed bilinear
    assert stages["resize"].verdict == "fail"
    assert stages["resize"].chained.mismatch_fraction > 0.5
    assert stages["resize"].shape == [224, 224, 1] == stages["resize"].reference_shape
    # own (isolated) errors: resize is where it goes wrong; tile and expand_dims only carry it
    own = {name: s.own_verdict for name, s in stages.items()}
    assert own == {
        "input": "pass",
        "normalize": "pass",
        "resize": "fail",
        "tile": "pass",
        "expand_dims": "pass",
    }
    assert [stages[n].verdict for n in ("tile", "expand_dims")] == ["fail", "fail"]
    assert run.deterministic is True and run.repeat_max_abs == 0
    # the kind of error each stage makes on its own
    classes = {name: s.own_error_class for name, s in stages.items()}
    assert classes == {
        "input": "none",
        "normalize": "float32",
        "resize": "semantic",
        "tile": "none",
        "expand_dims": "none",
    }
    assert stages["normalize"].isolated.max_abs < 1e-6


LEGACY_NEAREST = {
    "impl": "tf",
    "method": "nearest",
    "align_corners": False,
    "half_pixel_centers": False,
}
SKIMAGE_IN_JS = {
    "method": "bilinear",
    "align_corners": False,
    "half_pixel_centers": True,
    "antialias": "skimage",
}


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_parity_seed_hint_names_the_resize_mismatch(parity_run, parity_backend, case):
    run = parity_run("seed", case)
    [hint, *_] = {s.name: s for s in run.stages}["resize"].hints
    # TF.js's resizeNearestNeighbor with its defaults is TF's nearest on the legacy grid ...
    assert hint["python_settings"] == LEGACY_NEAREST
    # ... and the fix on the JS side is the skimage-equivalent resize of seed-matched
    assert hint["js_settings"] == SKIMAGE_IN_JS
    # ... which no app can call: the fix says so in TF.js's terms, and gives Python's call
    assert "TF.js has no anti-aliased resize" in hint["fix"]["js"]
    assert hint["fix"]["python"].startswith("tf.compat.v1.image.resize_nearest_neighbor(x, [224")
    assert hint["source"] == "setting search" and "tf.avgPool" in hint["text"]
    if not hint["reproduces"]:
        # only TF.js's cpu backend picks other rows (float64 index arithmetic; see
        # test_parity_tf_reference.py), so TF's nearest matches all but a few elements
        assert parity_backend.split(":")[0] == "cpu"
        assert hint["mismatch_fraction"] < 0.05
