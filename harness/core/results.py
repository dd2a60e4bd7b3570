"""Result objects: plain data that serialise to JSON and back (the report.json contract,
`tfjs-parity/1`; its JSON Schema is harness/core/report.schema.json)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import dacite

from harness.core.report_json import json_safe, read_float, read_nonfinite, validator

SCHEMA = "tfjs-parity/1"


class Status(StrEnum):
    """A run's (or a case's) status: whether it ran, not what it found."""

    OK = "ok"
    SKIPPED = "skipped"  # the backend does not run here (a run only)
    ERROR = "error"  # the harness could not do its part: the reason says why


class Verdict(StrEnum):
    """A stage's verdict, end to end (`verdict`) or on its own (`own_verdict`)."""

    PASS = "pass"
    FAIL = "fail"
    NOT_RUN = "not_run"  # a side stopped before it
    ERROR = "error"  # the harness could not compare it (read back, isolated run)


class ErrorClass(StrEnum):
    """The kind of a stage's own error (compare/budget.py, compare/classify.py)."""

    NONE = "none"  # exact
    FLOAT32 = "float32"  # within what float32 arithmetic explains
    FLOAT16 = "float16"  # within what float16 storage explains (a float16 page)
    SEMANTIC = "semantic"  # beyond any float budget: the two sides compute different things


@dataclass(frozen=True)
class Metrics:
    """A candidate against its reference, element by element (compare/metrics.py): the largest
    |candidate - reference| (`max_abs`, in the tensor's units), relative error, and float32 ULP
    distance; how many of `total` elements fail the policy (`mismatched`, their share
    `mismatch_fraction`); where the largest error is (`worst_index`, a row-major index, with
    both values there); NaN/Inf that sit in one tensor only (`nonfinite_*`)."""

    max_abs: float
    max_rel: float
    max_ulp: int
    mismatch_fraction: float
    allclose: bool
    mismatched: int
    total: int
    nonfinite_mismatched: int  # NaN/Inf in one tensor but not at the same place in the other
    worst_index: tuple[int, ...] | None  # where max_abs is
    worst_reference: float | None
    worst_candidate: float | None
    passed: bool = True  # the policy's verdict (allclose is the element-wise one, with no slack)
    # smallest atol (with the policy's rtol) and rtol (with its atol) every element would pass
    min_atol: float = 0.0
    min_rtol: float = 0.0
    statistic_abs: float | None = None  # the policy's statistic, when it is not elementwise
    statistic_rel: float | None = None
    # the first (row-major) element where NaN/Inf disagree, and both sides' values there
    nonfinite_index: tuple[int, ...] | None = None
    nonfinite_reference: float | None = None
    nonfinite_candidate: float | None = None


@dataclass
class StageResult:
    name: str
    shape: list[int] | None  # the candidate's (JS) shape
    dtype: str | None
    reference_shape: list[int] | None
    reference_dtype: str | None
    verdict: Verdict  # the chained (end-to-end) comparison
    chained: Metrics | None  # metrics of the end-to-end runs
    isolated: Metrics | None  # metrics of the JS stage fed the Python input of that stage
    tolerance: dict[str, Any] | None
    message: str | None = None
    own_verdict: Verdict | None = None  # of the isolated run: the stage's own error
    isolated_message: str | None = None
    # end to end: the smallest atol (at the policy's rtol), rtol (at its atol) and ULP limit
    # with which every element would have passed
    min_passing_tolerance: dict[str, float] | None = None
    own_error_class: ErrorClass | None = None
    hints: list[dict[str, Any]] = field(default_factory=list)
    op: str | None = None  # a model layer's class (Conv2D, BatchNormalization, ...)
    layers: list[StageResult] = field(default_factory=list)  # a model stage's layers, in order
    # a classifier model stage: top1_agreement, top5_agreement, max_abs_prob, logits_cosine
    outputs: dict[str, Any] | None = None
    # a decode stage: transfer_syntax and the decoder on each side (python, js)
    decoding: dict[str, str] | None = None
    # the own error against the stage's float budget (compare/budget.py): ratio (own error /
    # float32 budget, max over elements), ratio_float16 (on a float16 page), basis, estimated
    budget: dict[str, Any] | None = None
    # a stage that is several tensors (a model's outputs, a case's named inputs): {part name:
    # its stage in `layers`}; the stage's verdicts are its parts' (compare/parts.py)
    parts: dict[str, str] | None = None
    # a model stage: how many of its layers or nodes were compared ("compared", "total") and
    # why each other one was not ("not_compared": {name: why})
    coverage: dict[str, Any] | None = None
    # arrays kept for a look (--keep-tensors): role (reference, candidate, isolated, input) ->
    # .npy path relative to the report's folder; or {"not_kept": why}
    tensors: dict[str, str] | None = None


@dataclass
class RunResult:
    browser: str
    backend: str  # the variant, e.g. "webgl:f16"
    status: Status
    reason: str | None = None
    first_divergence: str | None = None
    first_divergent_layer: str | None = None  # inside the first divergent model stage
    # the pipeline's declared divergences, stage -> {class, max_abs, why}
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)  # own failures nothing declared
    unmet: list[str] = field(default_factory=list)  # declared divergences not as declared: why
    # stages after a declared divergence whose own error cannot be told apart from what they
    # inherit (a code pipeline's taps, or --no-isolated): not judged, and said so
    unjudged: list[str] = field(default_factory=list)
    # model stages that compared fewer of their layers or nodes than the minimum asked for
    below_coverage: list[str] = field(default_factory=list)
    precision: str | None = None
    deterministic: bool | None = None  # the chained run twice gave bitwise identical stages
    repeat_max_abs: float | None = None  # and how far apart they were when not
    stages: list[StageResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # what this page was compared with: "python" (the live Python reference), or another
    # page as "browser:variant", e.g. "chromium:wasm" (backend vs backend)
    reference: str = "python"
    # a page is the reference and the run fails: where the pages first diverge, each page
    # against Python, end to end (compare/arbiter.py): {"stage", "reference": {"verdict",
    # "max_abs", "mismatch", "message"}, "candidate": {...}}
    against_python: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """Ran, compared at least one stage, no stage failed on its own but as declared,
        every declared divergence happened as declared (compare/expectations.py), and every
        model compared the share of its layers asked for."""
        compared = any(s.verdict in ("pass", "fail") for s in self.stages)
        return (
            self.status == "ok"
            and compared
            and not self.unexpected
            and not self.unmet
            and not self.below_coverage
        )


@dataclass
class CaseResult:
    case: str
    pipeline: str
    status: Status = Status.OK  # error: the case or the Python reference could not be produced
    reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)
    test: str | None = None  # the pytest test that ran it (its node id); None from the CLI


@dataclass
class Report:
    environment: dict[str, Any]
    cases: list[CaseResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)  # peak_rss_mb of the harness
    # pipeline name -> its description, where it has one (e.g. what a TF.js model alone checks)
    pipelines: dict[str, str] = field(default_factory=dict)
    # the harness itself broke (any exception outside a run): what and where; the runs
    # gathered before it stay in `cases`
    error: str | None = None
    # the run was stopped by a signal (SIGINT: Ctrl-C; SIGTERM: a CI cancel, `timeout`,
    # `docker stop`): which, and then the report holds the runs that finished; never passes
    interrupted: str | None = None
    schema: str = SCHEMA

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """A report read back from its JSON (`to_dict`), e.g. report.json. "nan", "inf" and
        "-inf" are read as the floats they stand for, wherever they are. Raises ValueError,
        naming where, on another schema, a value of the wrong type or enum, or derived keys
        (`passed`, `model_outputs`) that disagree with the runs they are derived from."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            said = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not a {SCHEMA} report: schema {said!r}")
        from jsonschema.exceptions import best_match  # imported here: ~0.1 s, only to read

        wrong = best_match(validator().iter_errors(data))
        if wrong is not None:
            raise ValueError(f"report.json at {wrong.json_path}: {wrong.message}")
        try:
            report = dacite.from_dict(cls, data, config=_READ)
        except dacite.DaciteError as e:  # e.g. 3.0 where an integer is due
            raise ValueError(f"report.json: {e}") from None
        derived = {"passed": report.passed, "model_outputs": report.model_outputs()}
        for key, value in derived.items():
            if key in data and json_safe(data[key]) != json_safe(value):
                raise ValueError(
                    f"report.json: {key} is {json.dumps(data[key])[:200]}, but its runs give "
                    f"{json.dumps(json_safe(value))[:200]}"
                )
        return report

    def all_runs(self) -> list[tuple[CaseResult, RunResult]]:
        return [(c, r) for c in self.cases for r in c.runs]

    @property
    def passed(self) -> bool:
        """Exit status 0 only when the harness finished, at least one run was compared, and
        every run passed (skipped runs compare nothing; they neither pass nor fail a report)."""
        if self.error is not None or self.interrupted is not None:
            return False
        if any(c.status != "ok" for c in self.cases):
            return False
        runs = [r for _, r in self.all_runs() if r.status != "skipped"]
        return bool(runs) and all(r.passed for r in runs)

    def model_outputs(self) -> list[dict[str, Any]]:
        """Classifier agreement over the batch of every case a (pipeline, browser, backend,
        model stage) ran on: agreements weighted by rows, the worst |prob| and cosine."""
        groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        for case, run in self.all_runs():
            for stage in run.stages:
                if stage.outputs:
                    key = (case.pipeline, run.browser, run.backend, stage.name)
                    groups.setdefault(key, []).append(stage.outputs)
        summary = []
        for (pipeline, browser, backend, stage), outs in groups.items():
            rows = sum(o["rows"] for o in outs)
            summary.append(
                {
                    "pipeline": pipeline,
                    "browser": browser,
                    "backend": backend,
                    "stage": stage,
                    "cases": len(outs),
                    "rows": rows,
                    "top1_agreement": sum(o["top1_agreement"] * o["rows"] for o in outs) / rows,
                    "top5_agreement": None
                    if any(o["top5_agreement"] is None for o in outs)
                    else sum(o["top5_agreement"] * o["rows"] for o in outs) / rows,
                    "max_abs_prob": _worst(max, [o["max_abs_prob"] for o in outs]),
                    "logits_cosine": _worst(min, [o["logits_cosine"] for o in outs]),
                }
            )
        return summary

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model_outputs"] = self.model_outputs()
        return {"schema": d.pop("schema"), **json_safe(d), "passed": self.passed}


_READ = dacite.Config(
    cast=[Status, Verdict, ErrorClass, tuple],
    type_hooks={float: read_float, dict[str, Any]: read_nonfinite},
    strict=False,  # `passed` and `model_outputs` are derived
)


def _worst(pick: Any, values: list[float]) -> float:
    """max or min of the values, NaN if any is NaN (Python's max/min keep or drop a NaN by
    where it stands)."""
    return math.nan if any(math.isnan(v) for v in values) else pick(values)
