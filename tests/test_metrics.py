"""Metrics on hand-computed cases: the numbers every verdict rests on."""

import numpy as np
import pytest

from harness.compare.metrics import BlockReadError, compare
from harness.compare.policy import Tolerance
from harness.compare.stages import compare_stage
from harness.compare.sweep import ulp_distance
from harness.compare.tolerance import EXACT, FLOAT16, FLOAT32, default_tolerance

TIGHT = Tolerance(atol=0.0, rtol=0.0, basis="test")


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def test_ulp_distance_counts_float32_steps():
    one = f32(1.0)
    assert ulp_distance(one, np.nextafter(one, np.float32(2))).tolist() == [1]
    assert ulp_distance(one, one).tolist() == [0]


def test_ulp_distance_across_zero_and_sign():
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    assert ulp_distance(f32(0.0), f32(-0.0)).tolist() == [0]
    assert ulp_distance(f32(tiny), f32(-tiny)).tolist() == [2]
    assert ulp_distance(f32(-1.0), f32(1.0)).tolist() == [2 * 0x3F800000]


def test_ulp_distance_through_subnormals():
    smallest_normal = np.finfo(np.float32).tiny
    below = np.nextafter(np.float32(smallest_normal), np.float32(0))
    assert ulp_distance(f32(smallest_normal), f32(below)).tolist() == [1]


def test_identical_tensors_pass_with_zero_error():
    a = f32(1.0, -2.5, 3.25)
    m = compare(a, a.copy(), TIGHT)
    assert (m.max_abs, m.max_rel, m.max_ulp, m.mismatch_fraction, m.allclose) == (0, 0, 0, 0, True)


def test_float64_reference_is_judged_from_its_float32_rounding():
    ref = np.array([0.1], dtype=np.float64)
    cand = np.array([0.1], dtype=np.float32)  # the best a float32 runtime can do
    m = compare(ref, cand, FLOAT32)
    assert m.max_ulp == 0
    assert m.max_abs == pytest.approx(abs(float(np.float32(0.1)) - 0.1))
    assert m.allclose


def test_mismatch_fraction_max_abs_max_rel_and_worst_index():
    ref = np.array([[1.0, 2.0], [4.0, 0.0]])
    cand = np.array([[1.0, 2.5], [4.0, 0.25]], dtype=np.float32)
    m = compare(ref, cand, Tolerance(atol=0.3, rtol=0.0, basis="test"))
    assert m.max_abs == 0.5
    assert m.worst_index == (0, 1)
    assert (m.worst_reference, m.worst_candidate) == (2.0, 2.5)
    assert m.max_rel == float("inf")  # 0.25 away from an exact 0
    assert m.mismatched == 1
    assert m.mismatch_fraction == 0.25
    assert not m.allclose


def test_rtol_scales_with_the_reference():
    ref = np.array([1000.0, 1.0])
    cand = np.array([1000.5, 1.5])
    m = compare(ref, cand, Tolerance(atol=0.0, rtol=1e-3, basis="test"))
    assert m.mismatched == 1  # 0.5 <= 1e-3 * 1000, but not <= 1e-3 * 1


def test_nan_and_inf_never_pass_silently():
    ref = f32(np.nan, np.inf, 1.0, -np.inf, np.nan)
    cand = f32(np.nan, np.inf, np.nan, np.inf, 0.0)
    m = compare(ref, cand, Tolerance(atol=1e9, rtol=1e9, basis="loose"))
    assert m.nonfinite_mismatched == 3  # NaN for 1.0, +inf for -inf, 0.0 for NaN
    assert m.mismatched == 3
    assert not m.allclose


def test_matching_nan_and_inf_positions_pass():
    a = f32(np.nan, np.inf, -np.inf, 2.0)
    assert compare(a, a.copy(), TIGHT).allclose


def test_empty_tensors_compare_equal():
    m = compare(np.zeros((0, 3)), np.zeros((0, 3), np.float32), TIGHT)
    assert m.allclose and m.total == 0 and m.mismatch_fraction == 0


def test_integer_tensors_count_ulps_as_units():
    m = compare(np.array([5, 7], np.uint16), np.array([5, 9], np.int32), EXACT)
    assert (m.max_abs, m.max_ulp, m.mismatched) == (2, 2, 1)


def test_stage_with_different_shapes_fails_saying_so():
    r = compare_stage("tile", np.zeros((2, 2, 3)), np.zeros((1, 2, 2, 3), np.float32), FLOAT32)
    assert r.verdict == "fail"
    assert r.message == "shape differs: python [2, 2, 3] vs js [1, 2, 2, 3]"
    assert r.chained is None


def test_stage_with_different_dtype_families_fails_saying_so():
    r = compare_stage("cast", np.zeros(3), np.zeros(3, np.int32), EXACT)
    assert r.verdict == "fail"
    assert "dtype differs: python float64 (float) vs js int32 (integer)" in r.message


def test_failed_stage_message_reads_like_torch_testing():
    r = compare_stage("normalize", np.array([1.0, 2.0]), f32(1.0, 2.1), FLOAT32)
    assert r.verdict == "fail"
    assert r.message.startswith("mismatched elements: 1 / 2 (50.0%)")
    assert "at index [1]" in r.message and "allowed atol 1e-05 + rtol 1.3e-06" in r.message


def test_default_tolerance_follows_dtype_and_backend_precision():
    assert default_tolerance(np.dtype("float32"), "float32") is FLOAT32
    assert default_tolerance(np.dtype("float32"), "float16") is FLOAT16
    assert default_tolerance(np.dtype("int32"), "float16") is EXACT
    assert default_tolerance(np.dtype("bool"), "float32") is EXACT


def test_large_tensors_split_across_threads_give_the_same_metrics_as_one_sweep():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2_000_003,))
    cand = (ref + rng.normal(scale=1e-6, size=ref.shape)).astype(np.float32)
    cand[1_999_999] = 9.0  # the worst element lies in the last span
    cand[5] = np.nan
    m = compare(ref, cand, FLOAT32)
    d = np.abs(cand.astype(np.float64) - ref)
    assert m.worst_index == (1_999_999,)
    assert m.max_abs == np.nanmax(d)
    assert m.mismatched == int(np.sum(~(d <= FLOAT32.atol + FLOAT32.rtol * np.abs(ref))))
    assert m.nonfinite_mismatched == 1
    finite = np.isfinite(cand)
    assert m.max_ulp == int(ulp_distance(ref.astype(np.float32)[finite], cand[finite]).max())


def test_bench_compare_reports_its_figure():
    from harness.bench.pages import compare as bench_compare

    figures = bench_compare(megabytes=4, repeats=1)["compare"]
    assert figures["gigabytes"] == 0.004 and figures["gb_per_s"] > 0


class Slices:
    """A BlockSource over an array, in slices of `per` elements (as a page's large stage)."""

    def __init__(self, array, per):
        self.array, self.per = array, per
        self.shape, self.dtype, self.nbytes = array.shape, array.dtype, array.nbytes

    def blocks(self):
        flat = self.array.reshape(-1)
        for s in range(0, flat.size, self.per):
            yield flat[s : s + self.per].copy()


@pytest.mark.parametrize("statistic", ["elementwise", "max", "mean", "median", "quantile:0.9"])
def test_a_candidate_read_in_slices_gives_the_metrics_of_the_whole(statistic):
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(7, 1000)).astype(np.float32)
    cand = ref + rng.normal(scale=1e-6, size=ref.shape).astype(np.float32)
    cand[6, 990] += 0.5  # the worst element in the last slice
    cand[2, 5] = np.nan  # a NaN disagreement in an early one
    tol = Tolerance(1e-5, 1e-5, "test", statistic=statistic)
    whole = compare(ref, cand, tol)
    sliced = compare(ref, Slices(cand, 999), tol)
    assert sliced.worst_index == whole.worst_index == (6, 990)
    assert sliced.worst_candidate == whole.worst_candidate
    assert sliced.nonfinite_index == whole.nonfinite_index == (2, 5)
    for field in ("max_abs", "max_rel", "max_ulp", "mismatched", "passed", "min_atol"):
        assert getattr(sliced, field) == getattr(whole, field), field
    if statistic != "elementwise":  # a median or quantile is taken of float32-kept errors
        assert sliced.statistic_abs == pytest.approx(whole.statistic_abs, rel=1e-5)
        assert sliced.statistic_rel == pytest.approx(whole.statistic_rel, rel=1e-5)


def test_slices_that_do_not_cover_the_tensor_are_a_read_error():
    ref = np.zeros(10, np.float32)
    short = Slices(np.zeros(10, np.float32), 4)
    short.blocks = lambda: iter([np.zeros(4, np.float32)])
    with pytest.raises(BlockReadError, match="4 of the tensor's 10"):
        compare(ref, short, Tolerance(0, 0, "test"))
