"""Declared divergences: a stage the user knows diverges, and what is expected of it.

In a pipeline file:
    "expect": {"divergences": {"resize": {"class": "semantic", "max_abs": 0.5,
                                          "why": "skimage anti-aliases, TF.js cannot"}}}
`class`: the kind of the stage's own error (float32, float16 or semantic; compare/budget.py);
`max_abs`: a bound on its own error, max |js - python| of the stage fed Python's input (for a
code pipeline's tap, which has no isolated run: of the tap end to end; no class then). An
expectation excuses that stage only, and only while its error stays of that class and within
that bound; every other stage is still judged on its own error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from harness.compare.expectations import CLASSES, Expectation
from harness.specs.params import PipelineSpecError


def parse_expect(
    raw: Any, where: str, stages: list[str] | None, taps: bool = False
) -> dict[str, Expectation]:
    """`expect` of a pipeline file; `stages`: the pipeline's stage names (None for a code
    pipeline, whose taps are known only when it runs); `taps`: a code pipeline's (no class)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PipelineSpecError(f"{where}: must be an object")
    if "first_divergence" in raw:
        stage = raw["first_divergence"]
        example = {"divergences": {str(stage): _example(taps)}}
        raise PipelineSpecError(
            f"{where}.first_divergence is no longer read: it excused every stage after the "
            "declared one, so a new fault there passed. Declare the stage and what it is "
            f"expected to do, e.g. {_json(example)}; the report of a run without it gives the "
            "class and own error to write"
        )
    unknown = sorted(set(raw) - {"divergences"})
    if unknown:
        raise PipelineSpecError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: divergences"
        )
    divergences = raw.get("divergences", {})
    if not isinstance(divergences, dict):
        raise PipelineSpecError(f"{where}.divergences: must be an object of stage -> expectation")
    return {
        stage: _expectation(stage, spec, f"{where}.divergences.{stage}", stages, taps)
        for stage, spec in divergences.items()
    }


def _expectation(
    stage: str, spec: Any, where: str, stages: list[str] | None, taps: bool
) -> Expectation:
    if stages is not None and stage not in stages:
        raise PipelineSpecError(f"{where}: {stage!r} is not a stage ({', '.join(stages)})")
    if stage == "input":
        raise PipelineSpecError(f"{where}: the input runs no op; it cannot be expected to diverge")
    if not isinstance(spec, dict):
        raise PipelineSpecError(f"{where}: must be an object like {_json(_example(taps))}")
    allowed = {"max_abs", "why"} if taps else {"class", "max_abs", "why"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        extra = (
            " (a tap has no isolated run, so its error has no class)" if "class" in unknown else ""
        )
        raise PipelineSpecError(
            f"{where}: unknown key(s) {', '.join(unknown)}{extra}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    missing = sorted((allowed - {"why"}) - set(spec))
    if missing:
        raise PipelineSpecError(
            f"{where}: needs {' and '.join(missing)}, e.g. {_json(_example(taps))}: an "
            "expectation without a bound would excuse any error at this stage"
        )
    error_class = spec.get("class")
    if not taps and error_class not in CLASSES:
        raise PipelineSpecError(
            f"{where}.class: {error_class!r} is not one of {', '.join(CLASSES)}"
        )
    bound = spec["max_abs"]
    if isinstance(bound, bool) or not isinstance(bound, int | float) or not 0 <= bound < math.inf:
        raise PipelineSpecError(f"{where}.max_abs: must be a finite non-negative number")
    why = spec.get("why", "")
    if not isinstance(why, str):
        raise PipelineSpecError(f"{where}.why: must be a string")
    return Expectation(stage, error_class, float(bound), why)


def _example(taps: bool) -> dict[str, Any]:
    return {"max_abs": 0.5} if taps else {"class": "semantic", "max_abs": 0.5}


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value)
