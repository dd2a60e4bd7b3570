"""Symptom detectors on the two arrays alone: each names what it saw on a tiny array, and none
speaks on a control that only differs by float rounding or by noise."""

import numpy as np
import pytest

from harness.diagnose.symptoms import symptoms

rng = np.random.default_rng(0)
IMAGE = rng.uniform(0, 1, (4, 5, 3)).astype(np.float32)
PIXELS = rng.integers(0, 200, (6, 6)).astype(np.float32)


def kinds(ref, cand):
    return [s.kind for s in symptoms(ref, cand)]


@pytest.mark.parametrize(
    ("candidate", "kind", "text"),
    [
        (np.transpose(IMAGE, (1, 0, 2)), "transpose", "js == python transposed (1, 0, 2)"),
        (IMAGE[..., ::-1], "channels_reversed", "channels reversed (RGB <-> BGR)"),
        (IMAGE * np.float32(255), "scale", "js == python x 255"),
        (IMAGE / np.float32(255), "scale", "js == python x 1/255"),
        (IMAGE + np.float32(0.5), "offset", "js == python + 0.5"),
        ((IMAGE - np.float32(0.1)) / np.float32(0.2), "affine", "a different scale and offset"),
        (IMAGE[np.newaxis], "batch_axis", "python [4, 5, 3] vs js [1, 4, 5, 3]"),
        (
            np.roll(IMAGE, 1, axis=0),
            "shift",
            "shifted by one along axis 0 (towards higher indices)",
        ),
        (np.roll(IMAGE, -1, axis=1), "shift", "along axis 1 (towards lower indices)"),
    ],
)
def test_a_relation_is_named_in_the_arrays_terms(candidate, kind, text):
    found = symptoms(IMAGE, candidate)
    assert found and found[0].kind == kind, found
    assert text in found[0].text


def test_integer_symptoms():
    clipped = np.minimum(PIXELS, 150)
    assert kinds(PIXELS, clipped) == ["clip"]
    assert "js clipped at 150" in symptoms(PIXELS, clipped)[0].text
    wide = np.array([[10, 300, 70000]], np.float32)
    assert kinds(wide, wide % 256) == ["byte_wrap"]
    assert "multiples of 2^8" in symptoms(wide, wide % 256)[0].text
    raw = np.concatenate([np.arange(12) + 0.5, np.arange(20) + 0.2, np.arange(20) + 0.7])
    even, up = np.round(raw), np.floor(raw + 0.5)  # numpy rounds half to even
    assert kinds(even, up) == ["half_rounding"]
    assert "python's even at every one" in symptoms(even, up)[0].text


def test_controls_name_nothing():
    rounding = IMAGE + np.float32(1e-7) * rng.standard_normal(IMAGE.shape).astype(np.float32)
    assert kinds(IMAGE, rounding) == []
    assert kinds(IMAGE, IMAGE) == []
    noise = IMAGE + np.float32(0.05) * rng.standard_normal(IMAGE.shape).astype(np.float32)
    assert kinds(IMAGE, noise) == []
    assert kinds(IMAGE, rng.uniform(0, 1, (5, 4, 3))) == []  # same sizes, unrelated values
    half = IMAGE.copy()
    half[:2] *= 2  # a relation for part of the array is not a finding
    assert kinds(IMAGE, half) == []


def test_patterns_a_single_element_or_a_flat_array_cannot_show_are_not_claimed():
    flat_rows = np.tile(np.arange(5, dtype=np.float32), (4, 1))  # every row the same
    other = flat_rows.copy()
    other[0] = 9  # the first row differs: no shift can be seen in rows that repeat
    assert "shift" not in kinds(flat_rows, other)
    one = PIXELS.copy()
    one[2, 3] = PIXELS[2, 3] - 1 if PIXELS[2, 3] % 2 else PIXELS[2, 3] + 1
    assert kinds(PIXELS, one) == []  # one element off by one: no rounding rule, no clip
    lower = PIXELS.copy()
    lower[0, :2] = PIXELS.max() + 5  # two values above python's: not a clip of js
    assert "clip" not in kinds(lower, PIXELS)


def test_what_the_arrays_cannot_tell_is_not_claimed():
    """Cases a tester found claimed wrongly: each names nothing, or says it is ambiguous."""
    x = rng.random((1, 8, 8, 3)).astype(np.float32)
    inf = x.copy()
    inf.flat[0] = np.inf
    assert kinds(x, inf) == []  # and no exception
    assert kinds(np.array([1e30, 2e30, 3e30], np.float32), np.array([1e30, 2e30, 4e30])) == []
    one = x.copy()
    one[0, 3, 4, 1] += 0.01
    assert kinds(x, one) == []  # one element off: no clip
    assert kinds(np.full((4, 4, 3), 5.0), np.full((4, 4, 3), 7.0)) == []
    assert kinds(x, np.zeros_like(x)) == [] and kinds(x, np.full_like(x, 0.5)) == []
    assert kinds(rng.random((1, 2)), rng.random((1, 2))) == []  # two points fit any line
    hot, hot2 = np.zeros((1, 10)), np.zeros((1, 10))
    hot[0, 3], hot2[0, 4] = 1, 1
    assert kinds(hot, hot2) == []  # another class on top, not a shift
    ramp = np.arange(12.0).reshape(3, 4)
    assert kinds(ramp, ramp + 1) == ["ambiguous"]  # a shift or an offset: cannot tell
    big = rng.random((4, 4)) * 1e9 + 3e9
    assert kinds((big.astype(np.float32) * np.float32(1.1)), (big * 1.1).astype(np.float32)) == []
    labels = rng.integers(0, 3, (1, 16, 16, 1)).astype(np.int32)
    changed = labels.copy()
    changed[0, 5, 5, 0] = (labels[0, 5, 5, 0] + 1) % 3
    assert kinds(labels, changed) == []


def test_an_integer_offset_of_one_on_large_integers_is_an_offset():
    ref = (np.arange(10, dtype=np.int64) * 1000 + 6000000).astype(np.int32) * 3 + 1
    assert [s.text for s in symptoms(ref, ref - 1)] == ["js == python - 1"]


def test_one_nan_in_a_slowly_changing_ramp_is_no_shift():
    """Neighbours within the relative tolerance of each other: a shifted copy matches as well
    as the unshifted one does, so a shift explains nothing (one NaN is the whole finding)."""
    ramp = np.arange(1e7, 1e7 + 4096, dtype=np.float64).astype(np.float32).reshape(64, 64)
    cand = ramp.copy()
    cand[-1, -1] = np.nan
    assert "shift" not in kinds(ramp, cand)


def test_a_crop_or_pad_is_named_with_the_slice_that_gives_it():
    found = symptoms(IMAGE, IMAGE[1:, :, :])
    assert [s.kind for s in found] == ["crop"]
    assert found[0].text.startswith("js == python[1:4, :, :]: the same values, js cropped")
    padded = np.pad(PIXELS, ((0, 0), (2, 1)))
    assert symptoms(PIXELS, padded)[0].text.startswith("python == js[:, 2:8]")
    # a centre crop 224 of 256 (33 x 33 placements)
    big = rng.uniform(0, 1, (256, 256)).astype(np.float32)
    assert symptoms(big, big[16:240, 16:240])[0].text.startswith("js == python[16:240, 16:240]")
    # a window that fits nowhere, or at two places, is no finding
    assert kinds(IMAGE, IMAGE[1:, :, :] + np.float32(0.5)) == []
    flat = np.ones((6, 6), np.float32)
    flat[:, 0] = [1, 2, 3, 4, 5, 6]
    assert kinds(np.tile(flat, (2, 1)), flat) == []


def test_a_crop_is_the_same_values_exactly_not_near_them():
    """Near is not a crop: a tiny offset on the window, beside a huge value cropped away, or
    values rounded in another dtype, are no 'same values'."""
    huge = PIXELS.copy()
    huge[-1] = 1e7
    assert kinds(huge, huge[:-1] + np.float32(5)) == []
    tiny = rng.uniform(-100, 100, (6, 6)).astype(np.float32)
    assert kinds(tiny, tiny[1:] + np.float32(1e-4)) == []
    large = (PIXELS * np.float32(1000)).astype(np.float32) + np.float32(0.25)
    assert "crop" not in kinds(large, np.round(large[1:] + 0.3).astype(np.int32))
    whole = PIXELS[1:].astype(np.int32)  # the same values, cropped, held as int32
    assert symptoms(PIXELS, whole)[0].text.endswith("held as int32 by js and float32 by python")


def test_a_reshape_or_flatten_is_named_but_not_a_batch_axis():
    found = symptoms(IMAGE, IMAGE.reshape(-1))
    assert [s.kind for s in found] == ["reshape"]
    assert "python [4, 5, 3] vs js [60]" in found[0].text
    assert kinds(IMAGE, IMAGE[np.newaxis]) == ["batch_axis"]
    assert kinds(IMAGE, IMAGE.reshape(-1)[::-1].copy()) == []


def test_floats_rounded_to_whole_numbers_on_one_side_name_the_rounding_and_the_dtypes():
    halves = np.arange(-20, 20, dtype=np.float32).reshape(5, 8) * np.float32(0.5)
    even = np.round(halves).astype(np.int32)
    found = symptoms(halves, even)
    assert [s.kind for s in found] == ["rounded"]
    assert found[0].text == (
        "js == python rounded to nearest, half to even, held as int32: the js side casts to "
        "integers where the python side keeps float32"
    )
    floored = np.floor(halves).astype(np.int64)
    assert "python == js rounded down (floor)" in symptoms(floored, halves)[0].text
    # kept as floats: rounded all the same
    kept = symptoms(halves, np.round(halves))[0].text
    assert kept.endswith("still float32: the js side rounds where the python side does not")
    # values that cannot tell two roundings apart (no ties, none negative): both named
    thirds = np.arange(30, dtype=np.float32) / np.float32(3)
    text = symptoms(thirds, np.floor(thirds).astype(np.int32))[0].text
    assert "rounded down (floor) or toward zero (truncated)" in text
    assert kinds(halves, (np.round(halves) + 1).astype(np.int32)) != ["rounded"]


def test_the_same_values_in_another_dtype_say_only_the_dtype_differs():
    found = symptoms(PIXELS, PIXELS.astype(np.int32))
    assert [s.kind for s in found] == ["dtype_only"]
    assert found[0].text.startswith("the same values, held as int32 by js and float32 by python")


def test_layouts_need_the_same_values_element_for_element_not_near_the_largest():
    """A transpose, a batch axis, reversed channels, a crop and a reshape compute nothing: one
    element 5% off beside a large value is no 'same values'; a float64 side rounded to float32
    is the same value; an integer dtype on one side is said."""
    x = rng.uniform(-2, 2, (6, 6)).astype(np.float32)
    x[0, 0] = 1e4
    off = x.T.copy()
    off[3, 4] *= np.float32(1.05)
    assert kinds(x, off) == []
    assert kinds(IMAGE, IMAGE[np.newaxis] * np.float32(1.0001)) != ["batch_axis"]
    wide = IMAGE.astype(np.float64) / 7  # float64 in Python, float32 in the page
    assert kinds(wide, np.transpose(wide, (1, 0, 2)).astype(np.float32)) == ["transpose"]
    assert kinds(wide, wide[1:].astype(np.float32)) == ["crop"]
    assert kinds(wide, wide.reshape(-1).astype(np.float32)) == ["reshape"]
    ints = symptoms(PIXELS, PIXELS[np.newaxis].astype(np.int32))[0].text
    assert ints.endswith("held as int32 by js and float32 by python")


def test_a_crop_out_of_a_uniform_border_is_found():
    scan = np.zeros((120, 120, 3), np.float32)
    scan[40:80, 30:90] = rng.uniform(0, 1, (40, 60, 3)).astype(np.float32)
    found = symptoms(scan, scan[10:100, 20:110])
    assert [s.kind for s in found] == ["crop"]
    assert "js == python[10:100, 20:110, :]" in found[0].text


def test_whole_numbers_past_a_floats_exact_integers_are_no_rounding_or_clip():
    big = np.arange(30, dtype=np.int64).reshape(5, 6) + 2**24 + 1
    assert kinds(big, big.astype(np.float32)) == []
    huge = np.arange(30, dtype=np.int64) * 3 + 2**53
    assert "clip" not in kinds(huge, huge.astype(np.float32))


def test_a_bool_is_no_rounding():
    values = rng.uniform(0, 1, (6, 6)).astype(np.float32)
    assert "rounded" not in kinds(values, values > 0.5)


def test_a_scale_or_offset_holds_at_every_element_not_only_the_large_ones():
    ref = np.concatenate([np.linspace(1, 1000, 50), np.linspace(0.001, 0.005, 50)])
    ref = ref.astype(np.float32)
    twice = ref * np.float32(2)
    twice[60] = ref[60] * np.float32(6)  # one small element off by 200%
    assert kinds(ref, twice) == []
    plus = ref + np.float32(3)
    plus[60] += np.float32(0.005)
    assert kinds(ref, plus) == []
    assert kinds(ref, ref * np.float32(2)) == ["scale"]  # the control: it does hold


def test_float64_or_integer_sides_are_the_same_value_only_nearly_exactly():
    wide = rng.uniform(-1, 1, (4, 5, 3))  # float64 on both sides
    off = np.transpose(wide, (1, 0, 2)).copy()
    off[0, 0, 0] += 3e-7
    assert kinds(wide, off) == []
    ints = (rng.integers(0, 10, (4, 5, 3)) * 10**9).astype(np.int64)
    moved = np.transpose(ints, (1, 0, 2)).astype(np.float64)
    moved[1, 1, 1] += 200
    assert kinds(ints, moved) == []
    big = np.array([2**63 + 5, 7, 9, 11, 13], np.uint64)
    assert kinds(big, np.array([2.0**63, 7, 9, 11, 13])) == []


def test_a_repetitive_image_gives_no_crop_and_no_long_search():
    grid = np.tile(np.eye(4, dtype=np.float32), (50, 50))
    assert kinds(grid, grid[3:150, 5:160]) == []


def test_a_scale_through_float32_rounding_and_a_zero_is_still_a_scale():
    """Python's side rounded to float32 moves a least-squares intercept by ~1e-5: that is no
    offset, and the element at 0 does not sink the scale."""
    x = np.arange(0, 4096, 7, dtype=np.float32)
    assert symptoms((x / np.float32(255)).astype(np.float32), x)[0].text == "js == python x 255"
