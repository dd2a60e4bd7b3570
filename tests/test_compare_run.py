"""First divergence from own (isolated) errors, and the determinism spread: pure logic."""

import numpy as np
import pytest

from harness.compare.classifier import classifier_outputs
from harness.compare.classify import classify
from harness.compare.gaps import unjudged
from harness.compare.metrics import compare
from harness.compare.parts import fold_layers
from harness.compare.stages import compare_run, default_policies
from harness.compare.tolerance import FLOAT32
from harness.core.outputs import RuntimeOutput, StageFailure
from harness.core.results import CaseResult, Report, RunResult, StageResult
from harness.diagnose.setting_hints import js_equivalent
from tests.builders import metrics

STAGES = ("input", "a", "b", "c")


def output(**stages: list[float]) -> RuntimeOutput:
    return RuntimeOutput({k: np.array(v, np.float32) for k, v in stages.items()})


REFERENCE = output(input=[1, 2], a=[2, 4], b=[3, 5], c=[6, 10])


def test_first_divergence_is_the_first_stage_whose_own_error_fails():
    chained = output(input=[1, 2], a=[2, 4], b=[3, 6], c=[6, 12])  # b goes wrong, c inherits it
    isolated = output(a=[2, 4], b=[3, 6], c=[6, 10])  # c alone is right
    stages, first = compare_run(STAGES, REFERENCE, chained, default_policies("float32"), isolated)
    assert first == "b"
    by = {s.name: s for s in stages}
    assert (by["c"].verdict, by["c"].own_verdict) == ("fail", "pass")
    assert by["c"].isolated.max_abs == 0 and by["c"].chained.max_abs == 2


def test_without_isolated_results_the_chained_verdict_decides():
    chained = output(input=[1, 2], a=[2, 4], b=[3, 6], c=[6, 12])
    stages, first = compare_run(STAGES, REFERENCE, chained, default_policies("float32"))
    assert first == "b"
    assert all(s.isolated is None for s in stages[1:])


def test_an_isolated_run_that_breaks_is_an_error_of_the_harness_not_a_class():
    """The chained run computed b: when the harness cannot run it alone, that says nothing of
    the user's numbers."""
    chained = output(input=[1, 2], a=[2, 4], b=[3, 5], c=[6, 10])
    isolated = RuntimeOutput(
        {"a": np.array([2, 4], np.float32), "c": np.array([6, 10], np.float32)},
        {"b": StageFailure("b", "JS exception: boom")},
    )
    stages, first = compare_run(STAGES, REFERENCE, chained, default_policies("float32"), isolated)
    assert first is None
    assert (stages[2].own_verdict, stages[2].own_error_class) == ("error", None)
    assert stages[2].isolated_message.endswith("JS exception: boom")
    assert unjudged(stages).startswith("b: the harness could not run this stage on its own")


@pytest.mark.parametrize(
    ("ref", "cand", "precision", "redo", "expected"),
    [
        ([0.1, 3.0], [0.1, 3.0], "float32", None, "none"),  # the float32 rounding of Python's
        ([1.0, 3.0], [1.0, 3.0 + 60 * 2.4e-7], "float32", None, "float32"),  # < 64 ULP of scale
        ([1.0, 3.0], [1.0, 3.001], "float32", None, "semantic"),
        ([1.0, 3.0], [1.0, 3.001], "float32", 3e-4, "float32"),  # float32 redo loses as much
        ([1.0, 3.0], [1.0, 3.001], "float16", None, "float16"),
        ([1.0, 3.0], [1.0, 3.1], "float16", None, "semantic"),
        ([1.0, 3.0], [np.nan, 3.0], "float32", None, "semantic"),
    ],
)
def test_own_error_classes_follow_the_stated_rule(ref, cand, precision, redo, expected):
    ref, cand = np.array(ref), np.array(cand, np.float32)
    assert classify(compare(ref, cand, FLOAT32), ref, precision, redo) == expected


def test_shape_disagreement_is_semantic():
    assert classify(None, np.zeros(3), "float32") == "semantic"


@pytest.mark.parametrize(
    ("python", "shape", "expected"),
    [
        (
            {
                "impl": "tf",
                "method": "nearest",
                "align_corners": True,
                "half_pixel_centers": False,
                "antialias": False,
            },
            (300, 300, 1),
            {"method": "nearest", "align_corners": True, "half_pixel_centers": False},
        ),
        (
            {"impl": "skimage", "order": 1, "anti_aliasing": None, "mode": "reflect"},
            (300, 300, 1),
            {
                "method": "bilinear",
                "align_corners": False,
                "half_pixel_centers": True,
                "antialias": "skimage",
            },
        ),
        (
            {"impl": "skimage", "order": 0, "anti_aliasing": False, "mode": "reflect"},
            (300, 300, 1),
            {
                "method": "nearest",
                "align_corners": False,
                "half_pixel_centers": True,
                "antialias": None,
            },
        ),
        # enlarging: skimage mirrors the border, TF.js clamps; no exact equivalent
        (
            {"impl": "skimage", "order": 1, "anti_aliasing": None, "mode": "reflect"},
            (100, 100, 1),
            None,
        ),
        (
            {"impl": "skimage", "order": 1, "anti_aliasing": False, "mode": "edge"},
            (100, 100, 1),
            {
                "method": "bilinear",
                "align_corners": False,
                "half_pixel_centers": True,
                "antialias": None,
            },
        ),
        (
            {"impl": "skimage", "order": 3, "anti_aliasing": None, "mode": "reflect"},
            (300, 300, 1),
            None,
        ),
    ],
)
def test_js_equivalent_of_python_resize_settings(python, shape, expected):
    assert js_equivalent("resize", {"size": [224, 224], **python}, shape) == expected


def test_model_layers_fold_into_their_stage_and_name_the_first_divergent_layer():
    ref = output(input=[1.0], **{"m/conv": [1.0], "m/relu": [2.0]}, m=[2.0])
    cand = output(input=[1.0], **{"m/conv": [1.0], "m/relu": [2.5]}, m=[2.5])
    stages, first = compare_run(
        ("input", "m/conv", "m/relu", "m"), ref, cand, default_policies("float32")
    )
    assert first == "m/relu"
    folded, first, layer = fold_layers(stages, first, {"m": {"conv": "Conv2D", "relu": "ReLU"}})
    assert [s.name for s in folded] == ["input", "m"]
    assert [(s.name, s.op, s.verdict) for s in folded[1].layers] == [
        ("conv", "Conv2D", "pass"),
        ("relu", "ReLU", "fail"),
    ]
    assert (first, layer) == ("m", "relu")


def test_classifier_outputs_agreement_and_logits_cosine():
    logits = np.array([[2.0, 1.0, 0.0, -1.0, -2.0, -3.0], [0.0, 3.0, 1.0, 0.0, 0.0, 0.0]])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    same = classifier_outputs(probs, probs.astype(np.float32), softmax=False)  # rows sum to 1
    assert same["top1_agreement"] == same["top5_agreement"] == 1.0
    assert same["logits_cosine"] == pytest.approx(1.0) and same["max_abs_prob"] < 1e-7
    swapped = probs.copy()
    swapped[1, [1, 2]] = swapped[1, [2, 1]]  # the second row now picks another class
    m = classifier_outputs(probs, swapped, softmax=True)
    assert m["top1_agreement"] == 0.5 and m["top5_agreement"] == 1.0  # same five, other order
    assert m["logits_cosine"] < 0.9 and m["rows"] == 2
    assert classifier_outputs(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), softmax=True) is None


def test_no_classifier_metrics_for_a_regression_head():
    boxes = np.array([[0.1, 0.2, 0.5, 0.9], [0.3, 0.3, 0.4, 0.8]], np.float32)  # rows != 1
    mesh = np.random.default_rng(0).normal(size=(1, 468 * 3)).astype(np.float32)
    assert classifier_outputs(boxes, boxes + 0.01, softmax=False) is None
    assert classifier_outputs(mesh, mesh, softmax=False) is None
    logits = np.array([[2.0, -1.0, 0.5]], np.float32)  # a softmax model's logits layer: named
    assert classifier_outputs(logits, logits, softmax=True)["top1_agreement"] == 1.0


def test_logits_cosine_is_not_one_when_a_side_has_nan_or_inf():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    for bad in (np.nan, np.inf):
        broken = probs.copy()
        broken[1, 0] = bad
        m = classifier_outputs(probs, broken, softmax=True)
        assert np.isnan(m["logits_cosine"]), bad
        assert np.isnan(m["max_abs_prob"]) or m["max_abs_prob"] == np.inf


def test_model_outputs_aggregate_over_the_cases_of_a_backend():
    def run(top1: float, prob: float, cosine: float) -> RunResult:
        stage = StageResult(
            "model",
            [1, 2],
            "float32",
            [1, 2],
            "float32",
            "pass",
            None,
            None,
            None,
            outputs={
                "top1_agreement": top1,
                "top5_agreement": 1.0,
                "max_abs_prob": prob,
                "logits_cosine": cosine,
                "rows": 1,
            },
        )
        return RunResult("chromium", "wasm", "ok", stages=[stage])

    report = Report(
        environment={},
        cases=[
            CaseResult("a", "p", runs=[run(1.0, 1e-7, 1.0)]),
            CaseResult("b", "p", runs=[run(0.0, 0.2, 0.9)]),
        ],
    )
    [summary] = report.to_dict()["model_outputs"]
    assert (summary["cases"], summary["rows"], summary["top1_agreement"]) == (2, 2, 0.5)
    assert (summary["max_abs_prob"], summary["logits_cosine"]) == (0.2, 0.9)


class _Unreadable(dict):
    """Stages a runtime produced, one of which the harness could not read back (a failed pull)."""

    def __init__(self, stages, lost):
        super().__init__(stages)
        self.lost = lost

    def __contains__(self, name):
        return name == self.lost or super().__contains__(name)

    def get(self, name, default=None):
        return default if name == self.lost else super().get(name, default)


def test_a_stage_that_could_not_be_read_is_an_error_of_that_stage():
    stages = _Unreadable({k: v for k, v in output(input=[1, 2], a=[2, 4]).stages.items()}, "b")
    candidate = RuntimeOutput(stages, {"b": StageFailure("b", "could not fetch the stage")})
    results, first = compare_run(STAGES, REFERENCE, candidate, default_policies("float32"))
    by = {s.name: s for s in results}
    assert by["b"].verdict == "error" and "could not fetch the stage" in by["b"].message
    assert first is None
    assert unjudged(results).startswith("b: the js stage could not be read")


def test_a_run_that_compares_nothing_cannot_pass():
    nothing = [StageResult("a", None, None, None, None, "not_run", None, None, None)]
    assert "no stage was compared" in unjudged(nothing)
    run = RunResult("chromium", "cpu", "ok", stages=nothing)
    assert not run.passed


def test_a_nan_is_named_where_it_is_not_hidden_behind_the_greatest_finite_difference():
    from harness.compare.stages import compare_stage
    from harness.report.wording import cell

    ref = np.zeros((40, 70, 1), np.float32)
    cand = ref.copy()
    cand[35, 20, 0] = 0.0036
    cand[27, 61, 0] = np.nan
    cand[30, 1, 0] = np.inf
    stage = compare_stage("softmax", ref, cand, FLOAT32)
    assert stage.chained.nonfinite_index == (27, 61, 0)
    assert stage.message.startswith(
        "NaN/Inf disagree at 2 of 2800 element(s), first at index [27, 61, 0] (python 0.0, js nan)"
    )
    assert stage.min_passing_tolerance is None
    assert cell(stage) == "✗ js NaN at [27,61,0]"
    python_inf = compare_stage("x", cand, ref, FLOAT32)  # the other side holds them
    assert cell(python_inf) == "✗ python NaN at [27,61,0]"


def test_one_legend_a_stage_passing_on_its_own_is_drawn_tilde_whatever_failed_end_to_end():
    from harness.report.wording import cell

    shape = StageResult("tile", [1, 3], "float32", [3, 1], "float32", "fail", None, None, None)
    shape.message, shape.own_verdict = "shape differs: python [3, 1] vs js [1, 3]", "pass"
    assert cell(shape) == "~ shape"
    shape.own_verdict = "fail"
    assert cell(shape) == "✗ shape"
    # its isolated run broke (the page lost its GPU there): not a pass, not its numbers
    shape.verdict, shape.own_verdict = "pass", "error"
    assert cell(shape).startswith("! ")


def test_model_outputs_worst_cosine_is_nan_whatever_the_order_of_cases():
    def run(cosine: float) -> RunResult:
        outputs = {"top1_agreement": 1.0, "top5_agreement": 1.0, "max_abs_prob": 0.0}
        stage = StageResult(
            "m", [1, 2], "float32", [1, 2], "float32", "pass", metrics(), None, None
        )
        stage.outputs = {**outputs, "logits_cosine": cosine, "rows": 1}
        return RunResult("chromium", "wasm", "ok", stages=[stage])

    for order in ([1.0, np.nan], [np.nan, 1.0]):
        cases = [CaseResult(str(i), "p", runs=[run(c)]) for i, c in enumerate(order)]
        [summary] = Report({}, cases).model_outputs()
        assert np.isnan(summary["logits_cosine"])


def test_all_nonfinite_disagreements_say_nothing_of_finite_elements():
    from harness.compare.stages import compare_stage

    stage = compare_stage("x", np.zeros(3, np.float32), np.full(3, np.nan, np.float32), FLOAT32)
    assert stage.message.endswith("no tolerance passes that")


def test_a_float64_past_float32s_range_agrees_with_inf():
    m = compare(np.array([1e300, 1.0]), np.array([np.inf, 1.0], np.float32), FLOAT32)
    assert m.nonfinite_mismatched == 0 and m.passed


def test_rows_with_nan_do_not_agree_on_a_class():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    m = classifier_outputs(probs, np.full_like(probs, np.nan), softmax=True)
    assert m["top1_agreement"] == 0.0 and m["top5_agreement"] is None  # 3 classes: no top-5


def test_a_page_that_hung_is_an_error_with_no_class():
    failure = StageFailure("input", "the page did not answer within 120 s", harness=True)
    candidate = RuntimeOutput({}, {"input": failure})
    results, first = compare_run(STAGES, REFERENCE, candidate, default_policies("float32"))
    assert results[0].verdict == "error" and results[0].own_error_class is None
    assert first is None and all(r.verdict == "not_run" for r in results[1:])


def test_a_stage_of_several_tensors_is_judged_by_its_parts_and_one_not_compared_is_an_error():
    from harness.compare.stages import compare_run
    from harness.core.outputs import RuntimeOutput

    a, b = np.ones((1, 3), np.float32), np.zeros((1, 2), np.float32)
    reference = RuntimeOutput(
        {"input": a, "model/cls": a, "model/box": b},
        composites={"model": {"cls": "model/cls", "box": "model/box"}},
    )
    candidate = RuntimeOutput({"input": a, "model/cls": a, "model/box": b + 1})
    stages, first = compare_run(
        ("input", "model/cls", "model/box", "model"), reference, candidate, lambda *_: FLOAT32
    )
    model = stages[-1]
    assert (model.verdict, model.parts) == ("fail", {"cls": "cls", "box": "box"})
    assert model.message == "2 tensors: cls pass, box fail" and first == "model/box"
    # one part on one side only: not compared, said so, and the run cannot pass
    candidate = RuntimeOutput({"input": a, "model/cls": a})
    stages, _ = compare_run(
        ("input", "model/cls", "model/box", "model"), reference, candidate, lambda *_: FLOAT32
    )
    box = next(s for s in stages if s.name == "model/box")
    assert box.verdict == "not_run" and "only python produced it" in box.message
    assert "not compared although both sides finished: model/box, model" in unjudged(stages)


def test_a_stage_exact_alone_but_not_end_to_end_on_identical_inputs_is_an_error():
    """Both runs fed it the same bytes (every earlier stage agrees exactly), so a difference end
    to end that its own run does not have is the harness's (or a kernel's) doing, never drift."""
    from harness.compare.stages import compare_run
    from harness.core.outputs import RuntimeOutput

    a, b = np.arange(4, dtype=np.float32), np.arange(4, dtype=np.float32)[::-1].copy()
    reference = RuntimeOutput({"input": a, "cat": np.concatenate([a, b])})
    chained = RuntimeOutput({"input": a, "cat": np.concatenate([b, a])})  # fed swapped
    alone = RuntimeOutput({"cat": np.concatenate([a, b])})
    stages, _ = compare_run(("input", "cat"), reference, chained, lambda *_: FLOAT32, alone)
    cat = stages[-1]
    assert (cat.verdict, cat.own_verdict, cat.own_error_class) == ("fail", "error", None)
    assert "the two runs computed it differently" in cat.isolated_message
    assert "cat: run alone it is exact" in unjudged(stages)
    # after a stage that already differs, a later one's own run is what judges it
    later = RuntimeOutput({"input": a + 1, "cat": np.concatenate([b, a])})
    stages, _ = compare_run(("input", "cat"), reference, later, lambda *_: FLOAT32, alone)
    assert stages[-1].own_verdict == "pass"


def test_drift_text_names_the_worst_output_of_a_model_with_several():
    from harness.report.wording import drift_text

    def stage(name, max_abs, verdict="fail", own="pass"):
        s = StageResult(name, [2], "float32", [2], "float32", verdict, None, None, None)
        s.chained, s.own_verdict, s.own_error_class = metrics(max_abs), own, "float32"
        return s

    model = StageResult("model", None, None, None, None, "fail", None, None, None)
    model.own_verdict, model.parts = "pass", {"d": "d", "e": "e"}
    model.layers = [stage("d", 1e-4), stage("e", 3e-7, "pass")]
    run = RunResult("chromium", "cpu", "ok", stages=[stage("input", 0.0, "pass"), model])
    assert drift_text(run).startswith("float32 drift only: output off by 0.0001 after")
