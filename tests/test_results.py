"""Results read back from their JSON: `Report.from_dict(report.to_dict())` is the report, and
report.json has a JSON Schema (harness/core/report.schema.json) every report meets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest

from harness.core.results import (
    CaseResult,
    ErrorClass,
    Report,
    RunResult,
    StageResult,
    Status,
    Verdict,
)
from harness.report import terminal
from tests.builders import metrics

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "harness" / "core" / "report.schema.json").read_text()
)
ENVIRONMENT = {
    "python": "3.11.2",
    "tensorflow": "2.19.0",
    "tfjs": "4.22.0",
    "reference_device": "CPU",
    "browsers": {"chromium": {"version": "150"}},
}


def a_report(nan: bool = False) -> Report:
    resize = StageResult(
        "resize",
        [1, 4],
        "float32",
        [1, 4],
        "float64",
        "fail",
        metrics(0.25, worst_index=(0, 3)),
        metrics(0.25, max_rel=math.nan if nan else 0.5),
        {"atol": 1e-5, "rtol": 1.3e-6, "basis": "float32", "explicit": False},
        message="max abs 0.25 at [0, 3]",
        own_verdict="fail",
        own_error_class="semantic",
        hints=[{"text": "python order=1", "source": "search", "reproduces": True}],
        min_passing_tolerance={"atol": 0.25, "rtol": 1.0, "ulp": 1 << 20},
        budget={
            "ratio": math.inf if nan else 3.5,
            "ratio_float16": None,
            "basis": "float32",
            "estimated": False,
        },
    )
    conv = StageResult(
        "model/conv",
        [1, 2],
        "float32",
        [1, 2],
        "float32",
        "pass",
        metrics(),
        metrics(),
        None,
        own_verdict="pass",
        own_error_class="none",
        op="Conv2D",
    )
    model = StageResult(
        "model",
        [1, 2],
        "float32",
        [1, 2],
        "float32",
        "pass",
        metrics(),
        None,
        None,
        layers=[conv],
        coverage={"compared": 1, "total": 1, "share": 1.0, "kind": "layers", "not_compared": {}},
        outputs={
            "rows": 1,
            "top1_agreement": 1.0,
            "top5_agreement": None,
            "max_abs_prob": 0.0,
            "logits_cosine": math.nan if nan else 1.0,
        },
    )
    run = RunResult(
        "chromium",
        "webgl:f16",
        "ok",
        first_divergence="resize",
        expected={"resize": {"class": "semantic", "max_abs": 0.5, "why": "aa"}},
        precision="float16",
        deterministic=True,
        repeat_max_abs=0.0,
        stages=[resize, model],
        timings={"compute": 0.5},
    )
    skipped = RunResult("chromium", "webgpu", "skipped", reason="no adapter")
    return Report(
        environment=ENVIRONMENT,
        cases=[
            CaseResult("a.dcm", "seed", meta={"bits": 12}, runs=[run, skipped]),
            CaseResult("b.dcm", "seed", status="error", reason="unreadable"),
        ],
        timings={"compute": 0.5},
        resources={"peak_rss_mb": 100.0},
        pipelines={"seed": "the motivating code"},
        interrupted="SIGTERM",
    )


def test_a_report_read_back_from_its_json_is_the_same_report() -> None:
    report = a_report()
    text = json.dumps(report.to_dict())
    again = Report.from_dict(json.loads(text))
    assert again == report
    stage = again.cases[0].runs[0].stages[0]
    assert stage.verdict is Verdict.FAIL and stage.own_error_class is ErrorClass.SEMANTIC
    assert again.cases[0].runs[0].status is Status.OK
    assert stage.chained.worst_index == (0, 3)  # a tuple again, as the comparator makes it
    assert again.cases[0].runs[0].stages[1].layers[0].op == "Conv2D"


def test_nan_and_infinity_survive_the_round_trip_as_json_writes_them() -> None:
    d = a_report(nan=True).to_dict()
    assert d["cases"][0]["runs"][0]["stages"][0]["isolated"]["max_rel"] == "nan"
    assert d["model_outputs"][0]["logits_cosine"] == "nan"
    again = Report.from_dict(json.loads(json.dumps(d)))
    resize, model = again.cases[0].runs[0].stages
    assert math.isnan(resize.isolated.max_rel) and resize.budget["ratio"] == math.inf
    assert math.isnan(model.outputs["logits_cosine"])  # in a free-form dict too
    assert again.to_dict() == d
    assert "resize" in terminal.render(again)  # what reads a report reads this one


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d.update(passed=True), "passed is true, but its runs give false"),
        (lambda d: d["model_outputs"][0].update(rows=2), "model_outputs is"),
        (lambda d: _stage(d)["chained"].update(total=2.0), "total"),
        (lambda d: _stage(d)["chained"].update(mismatch_fraction=7), "mismatch_fraction"),
        (lambda d: _stage(d)["chained"].update(mismatched=-1), "mismatched"),
        (lambda d: d["cases"][0]["runs"][0]["stages"][1]["outputs"].pop("rows"), "rows"),
        (lambda d: d["cases"][0]["runs"][0].update(backend="tpu"), "tpu"),
    ],
)
def test_a_report_that_contradicts_itself_or_its_schema_is_refused(change, said) -> None:
    d = json.loads(json.dumps(a_report().to_dict()))
    change(d)
    with pytest.raises(ValueError, match=said):
        Report.from_dict(d)


@pytest.mark.parametrize("data", [[], None, "report", 3])
def test_what_is_no_report_at_all_is_refused_plainly(data) -> None:
    with pytest.raises(ValueError, match="not a tfjs-parity/1 report"):
        Report.from_dict(data)


def _stage(d: dict) -> dict:
    return d["cases"][0]["runs"][0]["stages"][0]


def test_every_report_meets_the_schema_and_a_wrong_one_does_not() -> None:
    d = json.loads(json.dumps(a_report(nan=True).to_dict()))
    jsonschema.validate(d, SCHEMA)
    bad = json.loads(json.dumps(d))
    bad["cases"][0]["runs"][0]["stages"][0]["verdict"] = "passed"
    with pytest.raises(jsonschema.ValidationError, match="passed"):
        jsonschema.validate(bad, SCHEMA)
    extra = json.loads(json.dumps(d))
    extra["cases"][0]["runs"][0]["stages"][0]["chained"]["max_abz"] = 1.0
    with pytest.raises(jsonschema.ValidationError, match="max_abz"):
        jsonschema.validate(extra, SCHEMA)


@pytest.mark.parametrize(
    ("where", "value", "said"),
    [
        (("verdict",), "passed", "verdict"),
        (("chained", "max_ulp"), "many", "max_ulp"),
        (("own_error_class",), "float64", "own_error_class"),
    ],
)
def test_a_report_with_a_wrong_value_is_refused_naming_the_field(where, value, said) -> None:
    d = json.loads(json.dumps(a_report().to_dict()))
    target = d["cases"][0]["runs"][0]["stages"][0]
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    with pytest.raises(ValueError, match=said):
        Report.from_dict(d)


def test_another_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="tfjs-parity/1"):
        Report.from_dict({"schema": "tfjs-parity/2", "environment": {}})


def test_a_report_without_timings_says_so_instead_of_an_empty_line():
    assert terminal.timing_line({}) == (
        "time: not measured (the session ended before its processes said)"
    )
    line = terminal.timing_line({"compute": 1.0, "total": 2.0})
    assert line.endswith("compute 1.00s; wall 2.00s")
