"""A declared divergence excuses its own stage within its class and bound, nothing else."""

import dataclasses

from harness.compare.expectations import judge
from harness.core.results import RunResult, StageResult
from harness.report.wording import outcome
from harness.specs.expect import Expectation
from tests.builders import metrics

RESIZE = Expectation("resize", "semantic", 0.5)


def stage(name, verdict, own=None, own_abs=0.0, cls=None, chained_abs=0.0):
    s = StageResult(name, [2], "float32", [2], "float32", verdict, None, None, None)
    s.chained = metrics(chained_abs, mismatch_fraction=1.0)
    if own is not None:
        s.own_verdict = own
        s.isolated = metrics(own_abs, mismatch_fraction=1.0)
    s.own_error_class = cls
    return s


def run_of(*stages):
    run = RunResult("chromium", "cpu", "ok", stages=list(stages))
    run.first_divergence = next(
        (s.name for s in stages if (s.own_verdict or s.verdict) == "fail"), None
    )
    return run


def test_the_declared_stage_within_bounds_passes_and_later_inherited_errors_too():
    run = run_of(
        stage("normalize", "pass", "pass"),
        stage("resize", "fail", "fail", 0.31, "semantic", 0.31),
        stage("tile", "fail", "pass", 0.0, "none", 0.31),
    )
    judge(run, {"resize": RESIZE})
    assert run.passed and run.unexpected == [] and run.unmet == []
    assert outcome(run) == "PASS (diverges as declared: resize semantic 0.31 <= 0.5)"


def test_a_new_own_failure_after_the_declared_one_fails_the_run_naming_it():
    run = run_of(
        stage("resize", "fail", "fail", 0.31, "semantic", 0.31),
        stage("tile", "fail", "fail", 1.0, "semantic", 1.2),
        stage("expand_dims", "fail", "pass", 0.0, "none", 1.2),
    )
    judge(run, {"resize": RESIZE})
    assert not run.passed and run.unexpected == ["tile"]
    assert outcome(run) == "FAIL: first divergence at tile (besides the declared divergence)"


def test_the_declared_stage_beyond_its_bound_or_of_another_class_fails():
    beyond = run_of(stage("resize", "fail", "fail", 0.8, "semantic"))
    judge(beyond, {"resize": RESIZE})
    assert beyond.unmet == [
        "resize: its own error max |js - python| 0.8 is beyond the declared 0.5"
    ]
    other = run_of(stage("resize", "fail", "fail", 0.1, "float16"))
    judge(other, {"resize": RESIZE})
    assert other.unmet == ["resize: its own error is float16, declared semantic, max_abs 0.5"]
    gone = run_of(stage("resize", "pass", "pass", 1e-7, "float32"))
    judge(gone, {"resize": RESIZE})
    assert not gone.passed and "but its own error passes" in gone.unmet[0]


def test_a_declared_stage_with_nan_is_beyond_any_bound():
    s = stage("resize", "fail", "fail", 0.1, "semantic")
    s.isolated = dataclasses.replace(s.isolated, nonfinite_mismatched=3, nonfinite_index=(0, 4))
    run = run_of(s)
    judge(run, {"resize": RESIZE})
    assert run.unmet == [
        "resize: NaN/Inf disagree at 3 element(s), first at [0, 4]: beyond any declared bound "
        "(declared semantic, max_abs 0.5)"
    ]


def test_taps_after_a_declared_one_are_not_judged_and_said_so():
    tap = Expectation("resize", None, 0.5)
    run = run_of(
        stage("normalize", "pass"),
        stage("resize", "fail", chained_abs=0.31),
        stage("tile", "fail", chained_abs=0.31),
        stage("batch", "pass"),
    )
    judge(run, {"resize": tap})
    assert run.passed and run.unjudged == ["tile"]
    assert outcome(run) == (
        "PASS (diverges as declared: resize 0.31 <= 0.5; not judged, no own run to tell them from "
        "what they inherit: tile)"
    )
    before = run_of(stage("normalize", "fail", chained_abs=1.0), stage("resize", "fail"))
    judge(before, {"resize": tap})
    assert before.unexpected == ["normalize"]  # before the declared tap: judged as always


def test_a_model_layer_failing_on_its_own_is_named():
    model = stage("model", "fail", "pass", 0.0, "float32")
    layer = stage("conv", "fail", "fail", 0.3, "semantic")
    layer.op = "Conv2D"
    model.layers = [stage("relu", "pass", "pass"), layer]
    run = run_of(model)
    judge(run, {})
    assert run.unexpected == ["model/conv"]
    assert outcome(run) == "FAIL: first divergence at model/conv (Conv2D)"


def test_after_a_declared_tap_a_shape_or_nan_or_one_sided_tap_is_a_fault_of_its_own():
    tap = Expectation("scale", None, 0.5)
    shape = stage("reshape", "fail")
    shape.chained = None
    shape.message = "shape differs: python [4, 4] vs js [2, 8]"
    nan = stage("log", "fail", chained_abs=0.3)
    nan.chained = dataclasses.replace(nan.chained, nonfinite_mismatched=1, nonfinite_index=(1, 1))
    run = run_of(stage("scale", "fail", chained_abs=0.1), shape, nan, stage("huge", "fail"))
    judge(run, {"scale": tap})
    assert run.unexpected == ["reshape", "log"] and run.unjudged == ["huge"]
    assert not run.passed


def test_besides_is_said_only_when_the_declared_divergence_happened():
    run = run_of(stage("resize", "pass", "pass"), stage("tile", "fail", "fail", 1.0, "semantic"))
    judge(run, {"resize": RESIZE})
    assert outcome(run).startswith("FAIL: first divergence at tile; resize: declared")
