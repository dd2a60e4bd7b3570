"""Float budgets (compare/budget.py): float arithmetic passes as float32/float16, planted
semantics fail. The page is emulated here in numpy (float32 arithmetic, float16 storage); the
real pages are in tests/test_parity_verdicts.py."""

import numpy as np
import pytest

from harness.compare import budget
from harness.compare.budget import Terms, exact, gamma, judge
from harness.ops.op_terms import estimated, step_terms

RNG = np.random.default_rng(7)


def f16(x):
    """What a float16 texture stores."""
    with np.errstate(over="ignore"):
        return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


def normalize_terms(x, mean, std):
    settings = {"mean": mean, "std": std, "precision": "float64"}
    return step_terms("normalize", settings, x, (x - mean) / std)


PIXELS = RNG.integers(0, 4096, (64, 64, 1)).astype(np.int32)
MEAN, STD = 978.312, 1092.2426342420442
REFERENCE = (PIXELS.astype(np.float64) - MEAN) / STD


def page_normalize(std_factor=1.0, storage=np.float32):
    x = PIXELS.astype(np.float32)
    if storage is np.float16:
        return f16(f16(f16(x) - np.float32(MEAN)) / np.float32(STD * std_factor))
    return (x - np.float32(MEAN)) / np.float32(STD * std_factor)


def test_gamma_is_highams_bound():
    assert gamma(1, 2**-24) == pytest.approx(2**-24)
    assert gamma(2**25, 2**-24) == float("inf")


def test_float32_normalize_passes_as_float32_and_a_std_off_by_1e_5_is_semantic():
    terms = normalize_terms(PIXELS, MEAN, STD)
    ok = judge(REFERENCE, page_normalize(), terms, "float32")
    assert (ok.verdict, ok.error_class) == ("pass", "float32") and ok.ratio < 1
    off = judge(REFERENCE, page_normalize(1 + 1e-5), terms, "float32")
    assert (off.verdict, off.error_class) == ("fail", "semantic") and off.ratio > 5


def test_float16_storage_passes_as_float16_but_a_std_off_by_1e_3_is_not_excused():
    terms = normalize_terms(PIXELS, MEAN, STD)
    ok = judge(REFERENCE, page_normalize(storage=np.float16), terms, "float16")
    assert (ok.verdict, ok.error_class) == ("pass", "float16")
    assert ok.ratio > 1 >= ok.ratio16  # beyond float32, within float16
    off = judge(REFERENCE, page_normalize(1 + 1e-3, np.float16), terms, "float16")
    assert (off.verdict, off.error_class) == ("fail", "semantic")
    assert "the error is systematic (js = python x (1 - 0.000" in off.message


def test_values_past_65504_overflowing_on_a_float16_page_are_float16_range():
    y = np.linspace(0, 1e5, 256, dtype=np.float32)
    page = f16(y)  # inf past 65504
    terms = exact("copy", beyond_float16=True)
    out = judge(y, page, terms, "float16")
    assert (out.verdict, out.error_class) == ("fail", "float16")
    assert out.message.startswith("float16 range: this stage holds values past float16's largest")
    assert judge(y, page, terms, "float32").error_class == "semantic"  # no float16 page: a fault


def test_a_long_sequential_float32_sum_is_float32_not_semantic():
    x = RNG.uniform(0, 1000, 1_000_000).astype(np.float32)
    reference = np.array([x.astype(np.float64).mean()])
    sequential = np.array([np.cumsum(x, dtype=np.float32)[-1] / np.float32(x.size)])
    assert abs(sequential[0] - reference[0]) / reference[0] > 1e-5  # far past a 1e-5 rtol
    terms = estimated(lambda v: np.array([np.mean(v)]), x, reference, "mean", False)
    assert terms.length == 1_000_000
    out = judge(reference, sequential, terms, "float32")
    assert (out.verdict, out.error_class) == ("pass", "float32")


def test_a_dot_product_in_another_order_is_float32_and_a_one_percent_weight_is_not():
    x = RNG.normal(size=(16, 512)).astype(np.float32)
    w = RNG.normal(size=(512, 64)).astype(np.float32)
    reference = x @ w  # TF's float32 result
    other = np.stack([np.cumsum(x[:, :, None] * w[None], axis=1, dtype=np.float32)[:, -1]])[0]
    terms = Terms(np.abs(x) @ np.abs(w), 513, "dense")
    assert judge(reference, other, terms, "float32").error_class == "float32"
    wrong = x @ (w * np.float32(1.01))
    assert judge(reference, wrong, terms, "float32").error_class == "semantic"


def test_an_exact_op_must_be_exact():
    y = RNG.normal(size=(8, 8)).astype(np.float32)
    assert judge(y, y.copy(), exact("tile"), "float32").error_class == "none"
    moved = np.roll(y, 1, axis=0)
    assert judge(y, moved, exact("tile"), "float32").verdict == "fail"


def test_budget_grows_with_the_reduction_length_and_the_terms():
    s = np.ones(4)
    short = budget.bound(Terms(s, 10, "x"), np.zeros(4), "float32")
    long = budget.bound(Terms(s, 10_000, "x"), np.zeros(4), "float32")
    assert np.all(long > 500 * short)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 20.0])
def test_elu_by_exp_minus_one_against_expm1_is_float32(scale):
    """TF computes ELU with expm1, TF.js with exp(x) - 1: near 0 the absolute error is ULPs of
    1, not of the output."""
    x = (RNG.normal(size=4096) * scale).astype(np.float32)
    reference = np.where(x > 0, x, np.expm1(x.astype(np.float64))).astype(np.float32)
    page = np.where(x > 0, x, np.exp(x) - np.float32(1)).astype(np.float32)
    terms = Terms(np.abs(x.astype(np.float64)), 0, "elu", activation="elu")
    assert judge(reference, page, terms, "float32").verdict == "pass"


def test_estimated_terms_of_a_scan_and_of_an_affine_custom_op():
    x = RNG.uniform(0, 1, 50_000).astype(np.float32)
    exact_sum = np.cumsum(x.astype(np.float64))
    scan = estimated(lambda v: np.cumsum(v.astype(np.float64)), x, exact_sum, "cumsum", False)
    assert scan.length == x.size  # the first input reaches every output
    page = np.cumsum(x, dtype=np.float32)
    assert judge(exact_sum, page, scan, "float32").verdict == "pass"
    pixels = PIXELS.astype(np.float32)

    def normalize(v):
        return (v.astype(np.float64) - MEAN) / STD

    terms = estimated(normalize, pixels, REFERENCE, "normalize", False)
    assert terms.length == 1 and np.allclose(
        terms.magnitude, normalize_terms(PIXELS, MEAN, STD).magnitude
    )
    assert judge(REFERENCE, page_normalize(), terms, "float32").verdict == "pass"
    assert judge(REFERENCE, page_normalize(1 + 1e-5), terms, "float32").error_class == "semantic"


def test_a_scale_and_offset_cancelling_over_a_narrow_range_are_no_systematic_error():
    y = RNG.uniform(0.49, 0.51, 20_000)
    terms = Terms(np.abs(y), 1, "affine")
    noise = RNG.normal(scale=2e-8, size=y.size)
    cancelling = (y + 1e-5 * y - 5e-6 + noise).astype(np.float32)
    assert judge(y, cancelling, terms, "float32").verdict == "pass"
    wide = RNG.uniform(0.1, 1.0, 20_000)  # over a wide range a scale is told from an offset
    wrong = wide * (1 + 3.8e-7) + noise / 20  # within the budget element by element
    assert "systematic" in judge(wide, wrong, Terms(wide, 1, "affine"), "float32").message


def test_layer_normalisation_in_float32_is_float32_and_a_wrong_gamma_is_not():
    from harness.core import tf_runtime
    from harness.runtimes.tf_budgets import layer_terms

    x = (RNG.normal(size=(2, 4, 4, 16)) * 0.02 + 1.0).astype(np.float32)  # small std
    layer = tf_runtime.keras().layers.LayerNormalization(epsilon=1e-3)
    layer.build(x.shape)
    x64 = x.astype(np.float64)
    mean, var = x64.mean(-1, keepdims=True), x64.var(-1, keepdims=True)
    reference = (x64 - mean) / np.sqrt(var + 1e-3)
    x32 = x.astype(np.float32)
    m32 = x32.mean(-1, keepdims=True, dtype=np.float32)
    v32 = ((x32 - m32) ** 2).mean(-1, keepdims=True, dtype=np.float32)
    page = (x32 - m32) / np.sqrt(v32 + np.float32(1e-3))
    terms = layer_terms(layer, [x], reference)
    assert judge(reference, page, terms, "float32").error_class == "float32"
    assert judge(reference, page * np.float32(1.01), terms, "float32").error_class == "semantic"
