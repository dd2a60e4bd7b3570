"""Tolerance policies: ULP limits, allowed mismatch share, statistics, minimum passing tolerance,
and where each setting comes from (defaults, pipeline, command line)."""

import re

import numpy as np
import pytest

from harness.compare.metrics import compare
from harness.compare.policy import Tolerance
from harness.compare.tolerance import (
    FLOAT16,
    FLOAT32,
    Override,
    ToleranceError,
    parse_override,
    policy,
)
from harness.specs.params import PipelineSpecError
from harness.specs.spec import parse

F32 = np.dtype("float32")


def tol(**fields) -> Tolerance:
    return Tolerance(**{"atol": 0.0, "rtol": 0.0, "basis": "test", **fields})


def test_min_passing_tolerance_is_exact():
    ref = np.array([1.0, 10.0, 100.0])
    cand = np.array([1.5, 10.0, 101.0], np.float32)
    m = compare(ref, cand, tol(atol=0.1, rtol=0.001))
    # atol at rtol 0.001: max(0.5 - 0.001, 0, 1 - 0.1) = 0.9 ; rtol at atol 0.1: max(0.4, 0.009)
    assert m.min_atol == pytest.approx(0.9)
    assert m.min_rtol == pytest.approx(0.4)
    assert not m.passed
    assert compare(ref, cand, tol(atol=m.min_atol, rtol=0.001)).passed
    assert compare(ref, cand, tol(atol=0.1, rtol=m.min_rtol)).passed


def test_min_rtol_is_infinite_when_an_exact_zero_is_missed_beyond_atol():
    m = compare(np.array([0.0]), np.array([0.5], np.float32), tol(atol=0.1))
    assert m.min_rtol == float("inf") and m.min_atol == 0.5


def test_ulp_limit_lets_close_floats_pass_where_atol_and_rtol_do_not():
    ref = np.array([1.0, 1e-30], np.float32)
    cand = np.array([np.nextafter(np.float32(1), np.float32(2)), np.float32(1.1e-30)], np.float32)
    assert compare(ref, cand, tol(ulp=1)).mismatched == 1  # the second is far more than 1 ULP
    assert compare(ref, cand, tol(ulp=10**8)).passed


def test_allowed_mismatch_fraction():
    ref = np.zeros(100)
    cand = np.zeros(100, np.float32)
    cand[:3] = 1.0
    assert not compare(ref, cand, tol(mismatch_fraction=0.02)).passed
    m = compare(ref, cand, tol(mismatch_fraction=0.03))
    assert m.passed and not m.allclose  # the policy passes; not every element is close


def test_nan_disagreement_fails_whatever_the_policy():
    m = compare(
        np.array([np.nan, 1.0]),
        np.array([0.0, 1.0], np.float32),
        tol(atol=1e9, mismatch_fraction=1.0),
    )
    assert not m.passed


@pytest.mark.parametrize(
    ("statistic", "abs_value"),
    [("max", 1.0), ("mean", 0.25), ("median", 0.0), ("quantile:0.9", pytest.approx(0.7))],
)
def test_statistics_of_the_error(statistic, abs_value):
    ref = np.array([1.0, 1.0, 1.0, 1.0])
    cand = np.array([1.0, 1.0, 1.0, 2.0], np.float32)
    m = compare(ref, cand, tol(statistic=statistic, atol=0.3, rtol=0.3))
    assert m.statistic_abs == abs_value
    assert m.passed == (m.statistic_abs <= 0.3 or m.statistic_rel <= 0.3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("atol=1e-4", Override(None, None, {"atol": 1e-4})),
        ("resize:rtol=0.001,ulp=4", Override("resize", None, {"rtol": 1e-3, "ulp": 4})),
        ("normalize@webgl:f16:atol=2e-3", Override("normalize", "webgl:f16", {"atol": 2e-3})),
        ("@wasm:statistic=quantile:0.99", Override(None, "wasm", {"statistic": "quantile:0.99"})),
    ],
)
def test_override_syntax(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resize", "expected KEY=VALUE"),
        ("resize:colour=1", "unknown tolerance key 'colour'"),
        ("atol=-1", "must be a non-negative number"),
        ("statistic=mode", "'mode' is not one of"),
        ("mismatch_fraction=2", "between 0 and 1"),
        ("ulp=1.5", "is not an integer"),
    ],
)
def test_bad_overrides_say_what_is_wrong(text, message):
    with pytest.raises(ToleranceError, match=re.escape(message)):
        parse_override(text)


def test_policy_layers_defaults_pipeline_backend_and_command_line():
    step = {"atol": 1e-4, "backends": {"webgl:f16": {"rtol": 5e-3}}}
    assert policy(F32, "float32", "resize", "cpu") == FLOAT32
    p = policy(F32, "float16", "resize", "webgl:f16", step, [parse_override("resize:ulp=8")])
    assert (p.atol, p.rtol, p.ulp) == (1e-4, 5e-3, 8)
    assert p.basis == (
        f"{FLOAT16.basis}; pipeline: atol; pipeline for webgl:f16: rtol; command line: ulp"
    )
    other = policy(F32, "float32", "normalize", "cpu", None, [parse_override("resize:ulp=8")])
    assert other == FLOAT32


def test_pipeline_tolerance_is_validated():
    step = {"op": "tile", "params": {"reps": [1]}}
    assert parse({"name": "p", "steps": [{**step, "tolerance": {"atol": 1}}]}).steps[0].tolerance
    with pytest.raises(PipelineSpecError, match=r"steps\[0\]\.tolerance: unknown tolerance key"):
        parse({"name": "p", "steps": [{**step, "tolerance": {"tol": 1}}]})
    with pytest.raises(PipelineSpecError, match=r"unknown backend 'gpu'"):
        parse({"name": "p", "steps": [{**step, "tolerance": {"backends": {"gpu": {}}}}]})


@pytest.mark.parametrize(
    "text", ["f:atol=nan", "f:rtol=nan", "f:atol=inf", "f:atol=1e999", "mismatch_fraction=nan"]
)
def test_a_tolerance_that_would_pass_anything_is_refused(text):
    """NaN compares false, so a NaN bound would let every element through; inf allows all."""
    with pytest.raises(ToleranceError):
        parse_override(text)
