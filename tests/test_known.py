"""The catalogue of known divergences (harness/diagnose/known/) on tiny arrays: each entry is
told where its mechanism shows, and not on a near miss (the same stage with another cause)."""

import io
from pathlib import Path

import numpy as np
import pytest

from harness.core.results import StageResult
from harness.diagnose import known
from harness.diagnose.explain import NOTHING, diagnose
from harness.diagnose.known import CATALOGUE, LayerFacts, Seen, explain
from harness.ops import tf_resize
from tests.builders import metrics

REPO = Path(__file__).parent.parent


def seen(reference, candidate, inputs=(), kind="tap", op=None, backend="cpu", **kw) -> Seen:
    return Seen(
        stage="s",
        kind=kind,
        op=op,
        backend=backend,
        reference=np.asarray(reference),
        candidate=np.asarray(candidate),
        inputs=tuple(np.asarray(i) for i in inputs),
        **kw,
    )


def ids(s: Seen) -> list[str]:
    return [h["id"] for h in explain(s)]


def ramp(*shape) -> np.ndarray:
    n = int(np.prod(shape))
    return ((np.arange(n) % 7) * 1.5 + np.arange(n) * 0.25).astype(np.float32).reshape(shape)


def test_the_docs_are_generated_from_the_catalogue():
    text = (REPO / "docs" / "known-divergences.md").read_text()
    assert text == known.catalogue_markdown(), "run: python -m harness.diagnose.known > docs/..."
    assert len({e.id for e in CATALOGUE}) == len(CATALOGUE) >= 12


def test_every_entry_names_its_fix_on_each_side_and_a_source():
    for e in CATALOGUE:
        assert e.why and e.fix_python and e.fix_js and e.source and e.checks, e.id


def test_resize_grid_names_both_grids_and_not_a_resize_on_the_same_grid():
    x = ramp(6, 5, 2)
    half = tf_resize.resize(x, [9, 7], "bilinear", False, True)
    legacy = tf_resize.resize(x, [9, 7], "bilinear", False, False)
    [hint] = explain(seen(half, legacy, [x]))
    assert hint["id"] == "resize-grid" and hint["source"] == "known divergence"
    assert "half-pixel grid" in hint["evidence"] and "legacy" in hint["evidence"]
    assert hint["fix"]["js"].startswith("tf.image.resizeBilinear(x, [9, 7], false, true)")
    assert (
        "resize_bilinear(x, [9, 7], align_corners=False, half_pixel_centers=False)"
        in (hint["fix"]["python"])
    )
    # nearest on two grids: the fixes stay nearest; align-corners: TF.js's alignCorners=true
    near = tf_resize.resize(x, [9, 7], "nearest", False, True)
    [hint] = explain(seen(near, tf_resize.resize(x, [9, 7], "nearest", False, False), [x]))
    assert hint["fix"]["js"].startswith("tf.image.resizeNearestNeighbor(x, [9, 7], false, true)")
    corners = tf_resize.resize(x, [9, 7], "bilinear", True, False)
    [hint] = explain(seen(corners, legacy, [x]))
    assert hint["fix"]["js"].startswith("tf.image.resizeBilinear(x, [9, 7], true, false)")
    # an integer label mask, resized nearest on two grids
    mask = (np.arange(30, dtype=np.int32) % 4).reshape(6, 5, 1)
    m_ref = tf_resize.resize(mask, [9, 7], "nearest", False, True)
    m_js = tf_resize.resize(mask, [9, 7], "nearest", False, False)
    assert ids(seen(m_ref, m_js, [mask])) == ["resize-grid"]
    # near misses: the same grid, off by a constant (a normalisation, not a grid); and a
    # catalogue step of another op
    assert ids(seen(half, half + 0.5, [x])) == []
    assert ids(seen(half, legacy, [x], kind="layer", op="Dense")) == []


def test_antialias_shrink_names_the_python_call_and_not_a_plain_shrink():
    from skimage.transform import resize

    x = ramp(16, 12, 1)
    smooth = resize(x, (5, 4), order=1, preserve_range=True).astype(np.float32)
    plain = tf_resize.resize(x, [5, 4], "bilinear", False, True)
    [hint] = explain(seen(smooth, plain, [x]))
    assert hint["id"] == "antialias-shrink"
    assert "anti_aliasing=True" in hint["evidence"] and "mode='reflect'" in hint["evidence"]
    # near miss: Python's resize is not an anti-aliased one (a scaled plain resize)
    assert ids(seen(plain * 1.01, plain, [x])) == []
    # enlarging is no shrink
    big = tf_resize.resize(x, [20, 15], "bilinear", False, True)
    assert "antialias-shrink" not in ids(seen(big + 1, big, [x]))


def test_int32_above_2_24_on_gpu_backends_only():
    ref = (np.arange(1024, dtype=np.int64) * 13107 + 16777000).astype(np.int32)
    cand = ref.astype(np.float32).astype(np.int32)
    assert ids(seen(ref, cand, backend="webgl")) == ["int32-float32-storage"]
    assert ids(seen(ref, cand, backend="webgpu")) == ["int32-float32-storage"]
    assert ids(seen(ref, cand, backend="wasm")) == []
    # a tensor small enough to run on the CPU kernels of webgpu (under 1000 elements)
    assert ids(seen(ref[:500], cand[:500], backend="webgpu")) == []
    assert ids(seen(ref[:500], cand[:500], backend="webgl")) == ["int32-float32-storage"]
    # near miss: a difference below 2^24 is not float32 storage
    small = np.arange(10, dtype=np.int32) * 1000
    assert ids(seen(small, small + np.eye(1, 10, 3, dtype=np.int32)[0], backend="webgl")) == []


def test_float16_overflow_on_a_float16_page_only():
    x = np.linspace(-1000, 60000, 64, dtype=np.float32)
    ref = x * 4
    cand = np.where(np.abs(ref) > 65504, np.inf, ref).astype(np.float32)
    assert ids(seen(ref, cand, [x], backend="webgl:f16")) == ["float16-range"]
    assert ids(seen(ref, cand, [x], backend="webgl")) == []
    # near miss: NaN where nothing passed float16's range
    y = np.linspace(-10, 10, 64, dtype=np.float32)
    assert ids(seen(y, np.where(y > 5, np.nan, y), [y], backend="webgl:f16")) == []
    tiny = np.array([1e-6, 2e-6, 0.5, 0.25], np.float32)
    assert ids(seen(tiny, np.where(tiny < 1e-5, 0, tiny), backend="webgl:f16")) == ["float16-range"]


def test_nearest_float64_index_on_cpu():
    x = np.arange(3000, dtype=np.float32).reshape(3000, 1, 1)
    ref = tf_resize.resize(x, [299, 1], "nearest", False, True)
    rows = tf_resize.nearest_index(3000, 299, False, True, np.float64)
    cand = x[rows]
    [hint] = explain(seen(ref, cand, [x], backend="cpu"))
    assert hint["id"] == "nearest-float64-index" and "rows [149]" in hint["evidence"]
    assert ids(seen(ref, cand, [x], backend="wasm")) == []  # wasm computes in float32
    # near miss: another row wrong than the float64 one
    other = ref.copy()
    other[10] = x[7]
    assert "nearest-float64-index" not in ids(seen(ref, other, [x], backend="cpu"))


def test_argmax_ties_need_tied_maxima_at_every_differing_index():
    x = np.array([[1, 3, 3, 0], [2, 5, 1, 5], [0, 1, 2, 3]], np.float32)
    ref = np.argmax(x, -1).astype(np.int32)
    cand = np.array([2, 3, 3], np.int32)
    [hint] = explain(seen(ref, cand, [x], backend="webgpu"))
    assert hint["id"] == "argmax-ties" and "tied maxima" in hint["evidence"]
    # near miss: one index points at a value that is not the maximum
    wrong = np.array([2, 3, 1], np.int32)
    assert ids(seen(ref, wrong, [x], backend="webgpu")) == []


def test_wasm_clip_int32_needs_the_inputs_own_values():
    x = np.arange(0, 4096, 512, dtype=np.int32)
    ref = np.clip(x, 0, 255)
    node = {"kind": "node", "op": "ClipByValue"}
    assert ids(seen(ref, x, [x], backend="wasm", **node)) == ["wasm-clip-int32"]
    assert ids(seen(ref, x, [x], backend="webgl", **node)) == []
    # near misses: clipped at another bound (a setting), not left as it was; the user's own
    # code returning its input (a clip at a bound above every value) is no proof of the kernel
    assert ids(seen(ref, np.clip(x, 0, 1000), [x], backend="wasm", **node)) == []
    [hint] = explain(seen(ref, x, [x], backend="wasm"))
    assert hint["conditional"] and hint["text"].startswith("if this code calls tf.clipByValue")


def test_wasm_cast_bool_keeps_the_low_byte_of_the_integer_part():
    x = np.arange(64, dtype=np.int32) * 64
    ref = x.astype(bool)
    cand = (x % 256 != 0) & ref
    step = {"kind": "step", "op": "cast"}
    assert ids(seen(ref, cand, [x], backend="wasm", **step)) == ["wasm-cast-bool"]
    # floats between -1 and 1 truncate to 0 as well
    f = (np.arange(18, dtype=np.float32) % 9) / 8
    assert ids(seen(f != 0, np.trunc(f) != 0, [f], backend="wasm", **step)) == ["wasm-cast-bool"]
    # near miss: false where the input is not a multiple of 256
    odd = ref.copy()
    odd[1] = False
    assert ids(seen(ref, odd, [x], backend="wasm", **step)) == []
    # in a tap, the user's own byte mask (tf.notEqual(tf.mod(x, 256), 0)) looks the same
    [hint] = explain(seen(ref, cand, [x], backend="wasm"))
    assert hint["conditional"] and "casts to bool" in hint["text"]


def test_webgl_log_zero_needs_minus_infinity_from_zero():
    x = np.arange(300, dtype=np.float32) % 4
    with np.errstate(divide="ignore"):
        ref = np.log(x)
    cand = np.where(x == 0, -88.03, ref).astype(np.float32)
    node = {"kind": "node", "op": "Log"}
    assert ids(seen(ref, cand, [x], backend="webgl", **node)) == ["webgl-log-zero"]
    assert ids(seen(ref, cand, [x], backend="cpu", **node)) == []
    # near misses: finite values that differ as well; a tensor the CPU kernel computes
    wrong = np.where(x == 0, -88.0, ref + 0.1)
    assert ids(seen(ref, wrong, [x], backend="webgl", **node)) == []
    assert ids(seen(ref[:12], cand[:12], [x[:12]], backend="webgl", **node)) == []
    # in a tap, a floor of the user's own (np.finfo(np.float32).tiny) looks the same: said
    # only as a condition on the code
    [hint] = explain(seen(ref, cand, [x], backend="webgl"))
    assert hint["conditional"] and hint["text"].startswith("if this code calls tf.log on zeros")


def test_batch_norm_training_needs_the_layers_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    w = {
        "gamma": np.array([1.5, 0.5, 2.0], np.float32),
        "beta": np.array([0.1, -0.2, 0.3], np.float32),
        "moving_mean": np.array([0.4, -1.0, 2.0], np.float32),
        "moving_variance": np.array([3.0, 0.5, 9.0], np.float32),
    }
    eps = 1e-3
    batch = (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)) + eps) * w["gamma"] + w["beta"]
    moving = (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + eps) * w["gamma"] + w["beta"]
    facts = LayerFacts("BatchNormalization", {"axis": [3], "epsilon": eps}, w)
    bn = {"kind": "layer", "op": "BatchNormalization", "layer": facts}
    assert ids(seen(batch, moving, [x], **bn)) == ["batchnorm-training"]
    # near miss: both in inference mode, one with a wrong beta
    assert ids(seen(moving, moving + 0.3, [x], **bn)) == []
    assert ids(seen(batch, moving, [x], kind="layer", op="BatchNormalization")) == []


def jpeg_bytes() -> bytes:
    from PIL import Image

    rng = np.random.default_rng(3)
    img = np.clip(rng.normal(128, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=60)
    return buf.getvalue()


def test_jpeg_idct_names_both_decoders_and_not_a_users_change():
    from PIL import Image

    from harness.core import tf_runtime

    tf = tf_runtime.tf()  # TF's decoders are candidates once TensorFlow is loaded
    data = jpeg_bytes()
    pillow = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    fast = tf.io.decode_jpeg(data, channels=3).numpy()  # TF's default IDCT
    assert not np.array_equal(fast, pillow)
    [hint] = explain(seen(fast, pillow, file=data))
    assert hint["id"] == "jpeg-idct"
    assert "python's pixels are TF decode_jpeg (default" in hint["evidence"]
    assert "js's are Pillow's" in hint["evidence"]
    # the same after MobileNet's scaling on both sides
    scaled = [a.astype(np.float32) / 127.5 - 1 for a in (fast, pillow)]
    assert ids(seen(*scaled, file=data)) == ["jpeg-idct"]
    # near misses: not a JPEG; the browser's pixels brightened by the user; one channel taken
    # for grey; Python's own decoder on both sides with a change
    assert ids(seen(fast, pillow, file=b"\x89PNG" + data)) == []
    brighter = np.clip(pillow.astype(np.int16) + 2, 0, 255).astype(np.uint8)
    assert ids(seen(pillow, brighter, file=data)) == []
    assert ids(seen(fast, brighter, file=data)) == []
    grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"))[..., None]
    assert ids(seen(grey, pillow[..., :1], file=data)) == []


def png_bytes() -> tuple[bytes, np.ndarray]:
    from PIL import Image

    y, x = np.mgrid[0:8, 0:8]
    rgba = np.dstack([x * 30, y * 30, x + y + 40, np.where(x < 2, 0, np.where(x < 4, 5, 255))])
    buf = io.BytesIO()
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(buf, "PNG")
    return buf.getvalue(), rgba.astype(np.uint8)


def test_premultiplied_alpha_needs_transparent_pixels_zeroed_and_opaque_ones_equal():
    data, rgba = png_bytes()
    straight = rgba[..., :3]
    a = rgba[..., 3:].astype(np.float64)
    pre = np.round(straight * a / 255)
    cand = np.where(a > 0, np.round(pre * 255 / np.maximum(a, 1)), 0).astype(np.uint8)
    [hint] = explain(seen(straight, cand, file=data))
    assert hint["id"] == "premultiplied-alpha" and "fully transparent" in hint["evidence"]
    # near miss: an opaque pixel differs too (another cause)
    other = cand.copy()
    other[7, 7, 0] ^= 1
    assert ids(seen(straight, other, file=data)) == []


def test_pipeline_settings_from_the_file_only_when_they_reproduce_the_js_output():
    x = ramp(8)

    def normalize(settings):
        return (x - 100.0) / settings.get("std", 1091.15)

    differing = {"std": (1091.15, 1092.24)}
    js = (x - 100.0) / 1092.24
    s = seen(normalize({}), js, [x], kind="step", op="normalize", differing=differing,
             rerun=normalize)  # fmt: skip
    [hint] = explain(s)
    assert hint["id"] == "pipeline-settings" and hint["source"] == "pipeline file"
    assert "python std=1091.15, js std=1092.24" in hint["text"]
    # near miss: the JS value does not give the JS output (another bug beside it)
    other = seen(normalize({}), js + 0.5, [x], kind="step", op="normalize",
                 differing=differing, rerun=normalize)  # fmt: skip
    assert "pipeline-settings" not in ids(other)


def test_an_entry_that_cannot_read_the_arrays_finds_nothing_and_nothing_is_said_plainly():
    s = seen(np.array(["a", "b"]), np.array(["a", "c"]), [np.zeros((2, 2))], backend="webgl")
    assert explain(s) == []
    stage = StageResult("s", [2], "float32", [2], "float32", "fail", metrics(1.0), None, None)
    diagnose(stage, s)
    assert stage.hints == [{"text": NOTHING, "source": "none", "reproduces": None}]
    # a side with no array (its code threw): nothing to read, nothing said
    failed = StageResult("u", None, None, [2], "float32", "fail", None, None, None)
    diagnose(failed, None)
    assert failed.hints == []
    symptomatic = StageResult("t", [3], "float32", [3], "float32", "fail", metrics(1.0), None, None)
    diagnose(symptomatic, seen(ramp(8), ramp(8) * 255))
    assert [h["source"] for h in symptomatic.hints] == ["symptom"]


@pytest.mark.parametrize("entry", [e.id for e in CATALOGUE])
def test_no_entry_is_told_when_the_two_sides_agree(entry):
    x = ramp(6, 5, 3)
    same = seen(x, x.copy(), [x], backend="webgl:f16", file=jpeg_bytes())
    e = next(e for e in CATALOGUE if e.id == entry)
    assert e.evidence(same) is None


def test_what_a_fresh_user_tried_is_not_misnamed():
    """Mistakes of the user's own that look like a known divergence are not named as one."""
    # int32 above 2^24 on webgl, but the JS side forgot a + 1 (every value off by one)
    ids_ = (np.arange(10, dtype=np.int64) * 1000 + 6000000).astype(np.int32)
    assert ids(seen(ids_ * 3 + 1, ids_ * 3, backend="webgl")) == []
    # argMax over the wrong axis of a square score matrix full of ties, on webgpu
    x = np.array([[38, 52, 255, 255], [131, 255, 255, 93], [255, 179, 255, 17],
                  [255, 69, 255, 5]], np.float32)  # fmt: skip
    wrong_axis = np.argmax(x, 0).astype(np.int32)
    assert ids(seen(np.argmax(x, 1).astype(np.int32), wrong_axis, [x], backend="webgpu")) == []
    # the user's own epsilon in log(x + 1e-30), on webgl
    z = np.arange(12, dtype=np.float32) % 4
    with np.errstate(divide="ignore"):
        ref = np.log(z)
    eps = np.log(z + np.float32(1e-30)).astype(np.float32)
    assert ids(seen(ref, eps, [z], backend="webgl")) == []
    # a float16 page where one value underflows and the rest are off by a factor
    y = np.linspace(0, 1, 64, dtype=np.float32)
    ref = y * 2 + np.float32(1e-5)
    js = y * 3
    assert ids(seen(ref, js, [y], backend="webgl:f16")) == []


def test_argmin_ties_get_the_argmin_fix():
    x = np.array([[1, 0, 0, 4], [0, 5, 0, 0], [3, 1, 2, 0]], np.float32)
    ref = np.argmin(x, -1).astype(np.int32)
    [hint] = explain(seen(ref, np.array([2, 3, 3], np.int32), [x], backend="webgpu"))
    assert hint["id"] == "argmax-ties" and "tied minima along axis 1" in hint["evidence"]
    assert hint["fix"]["js"].startswith("make the first minimum win: tf.argMin(")
    assert "x.min(1, true)" in hint["fix"]["js"]


def test_premultiplied_colours_left_premultiplied_get_their_own_fix():
    data, rgba = png_bytes()
    a = rgba[..., 3:].astype(np.float64)
    kept = np.round(rgba[..., :3] * a / 255).astype(np.uint8)  # what WebGL hands back
    [hint] = explain(seen(rgba[..., :3], kept, file=data))
    assert hint["id"] == "premultiplied-alpha"
    assert "multiplied by alpha/255" in hint["evidence"]
    assert hint["fix"]["python"].startswith("to compute what this page computes, np.round(")


def test_antialias_shrink_seen_through_a_division_by_255():
    from skimage.transform import resize

    x = (ramp(16, 12, 1) * 4).round().astype(np.uint8)
    smooth = resize(x, (5, 4))  # scikit-image's defaults: anti-aliased, and /255 for uint8
    plain = tf_resize.resize(x, [5, 4], "bilinear", False, True) / 255
    assert ids(seen(smooth, plain, [x])) == ["antialias-shrink"]


def test_antialias_shrink_by_tensorflow_when_it_is_loaded():
    from harness.core import tf_runtime

    tf = tf_runtime.tf()
    x = ramp(16, 12, 2)
    smooth = tf.image.resize(x, [5, 4], antialias=True).numpy()
    plain = tf_resize.resize(x, [5, 4], "bilinear", False, True)
    [hint] = explain(seen(smooth, plain, [x]))
    assert "tf.image.resize(x, [5, 4], method='bilinear', antialias=True)" in hint["evidence"]


def test_a_large_shrink_is_diagnosed():
    """1024x1024x3 to 512x512: scikit-image's mode is found on one channel's interior first
    (`tfjs-parity` timings list the seconds under `hints`)."""
    from skimage.transform import resize

    rng = np.random.default_rng(1)
    x = rng.random((1024, 1024, 3)).astype(np.float32)
    smooth = resize(x, (512, 512), order=1, mode="edge", anti_aliasing=True).astype(np.float32)
    plain = tf_resize.resize(x, [512, 512], "bilinear", False, True)
    assert ids(seen(smooth, plain, [x])) == ["antialias-shrink"]


def test_a_shape_or_dtype_that_differs_leads_when_nothing_explains_it():
    """Said of the arrays the diagnosis read (the stage's own run, fed Python's input), not of
    its end-to-end message, which may carry an earlier stage's shape."""
    from harness.diagnose.explain import NOTHING

    odd = StageResult("t", [3], "int32", [3], "float32", "fail", None, None, None)
    odd.message = "shape differs: python [3] vs js [2] (inherited end to end)"
    diagnose(odd, seen(np.array([0.1, 5.0, 9.0], np.float32), np.array([7, 1, 3], np.int32)))
    assert odd.hints[0]["text"] == (
        f"dtype differs: python float32 (float) vs js int32 (integer); {NOTHING}"
    )
    both = StageResult("t", [2], "int32", [3], "float32", "fail", None, None, None)
    diagnose(both, seen(np.array([0.1, 5.0, 9.0], np.float32), np.array([7, 1], np.int32)))
    assert both.hints[0]["text"].startswith(
        "shape differs: python [3] vs js [2]; dtype differs: python float32 (float) vs js int32 "
        "(integer); no known"
    )


def test_nothing_matched_says_when_the_values_are_too_few_to_tell():
    mask = StageResult("t", [3, 2], "float32", [2, 3], "float32", "fail", None, None, None)
    binary = np.array([[0, 1, 1], [1, 0, 1]], np.float32)
    diagnose(mask, seen(binary, binary.T.copy()))
    assert (
        "python's array holds 2 distinct value(s), too few to tell relations apart"
        in (mask.hints[0]["text"])
    )
