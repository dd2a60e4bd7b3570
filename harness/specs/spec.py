"""Pipelines: ordered, named steps, each an op from the catalogue with per-runtime settings.

A pipeline file is JSON:
    {"name": "seed", "description": "...",
     "expect": {"divergences": {"resize": {"class": "semantic", "max_abs": 0.5}}},
     "steps": [{"name": "resize", "op": "resize", "params": {"size": [224, 224]},
                "python": {"impl": "skimage"}, "js": {"method": "nearest"}}],
     "cases": ["scans/*.dcm", {"dicom": "other.dcm", "stats": "seed"}]}
`params` apply to both runtimes; `python` / `js` hold each side's own settings. A value "$mean"
is taken from the case (e.g. chosen from DICOM metadata). `cases` (optional): the file's own
cases (cases.parse_case_list). `ops` (optional): the user's own ops, {name: {"python":
"FILE.py:FUNCTION", "js": "FILE.js#EXPORT"}}, usable as steps like the catalogue's
(specs/code_pipeline.py CustomOp). With `code` instead of `steps`: the user's own code with
taps (specs/code_pipeline.py). JSON rather than a Python module: it is checked, reported and
read by other tools without running anything, and the user's code is named in it, not wrapped by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare.expectations import Expectation
from harness.core.jsonfile import JsonFileError, read_json
from harness.core.outputs import INPUT_STAGE
from harness.specs.cases import Case, CaseListError, CaseSource, parse_case_list
from harness.specs.code_pipeline import CodePipeline, parse_code, parse_ops
from harness.specs.expect import parse_expect
from harness.specs.op_schemas import SCHEMAS
from harness.specs.params import PipelineSpecError
from harness.specs.step import Step, object_field, only_keys, parse_step, parse_tolerance


@dataclass(frozen=True)
class Pipeline:
    name: str
    steps: tuple[Step, ...]
    description: str = ""
    # Declared divergences (specs/expect.py): each excuses its stage only, within bounds.
    expect: dict[str, Expectation] = field(default_factory=dict)
    source: str | None = None
    cases: tuple[CaseSource, ...] = ()  # the pipeline file's own cases, if it lists any
    # each model step must compare at least this share of its layers or nodes (0..1)
    min_coverage: float | None = None
    timeout: float | None = None  # seconds each step may take, on each side (None: the run's)
    stage_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stage_names", (INPUT_STAGE, *(s.name for s in self.steps)))

    def input_of(self, case: Case) -> np.ndarray | dict[str, np.ndarray]:
        """What both runtimes start from: the decoded pixels, or the file's bytes when the
        pipeline decodes the file itself."""
        if self.steps[0].op != "decode":
            return case.input
        if case.file is None:
            raise PipelineSpecError(
                f"pipeline {self.name!r} decodes a file, but case {case.id!r} has no file"
            )
        return case.file

    def js_steps(self, case_params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """What the page receives: resolved JS settings per step."""
        return [
            {"name": s.name, "op": s.op, "params": s.settings("js", case_params)}
            for s in self.steps
        ]


def parse(spec: Any, source: str | None = None) -> Pipeline | CodePipeline:
    """A step pipeline, or (with `code`) a bring-your-own-code one (specs/code_pipeline.py)."""
    where = source or "pipeline"
    if not isinstance(spec, dict):
        raise PipelineSpecError(f"{where}: a pipeline is a JSON object, got {type(spec).__name__}")
    if "code" in spec:
        return _parse_code_pipeline(spec, source, where)
    only_keys(
        spec,
        {"name", "description", "steps", "expect", "cases", "ops", "min_coverage", "timeout"},
        where,
    )
    name, base = _name(spec, where), _base(source)
    raw_steps = spec.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PipelineSpecError(f"{where}.steps: required, a non-empty list (or 'code')")
    custom = parse_ops(spec.get("ops", {}), base, f"{where}.ops", set(SCHEMAS))
    steps = tuple(
        parse_step(s, f"{where}.steps[{i}]", base, custom) for i, s in enumerate(raw_steps)
    )
    late = [i for i, s in enumerate(steps) if s.op == "decode" and i > 0]
    if late:
        raise PipelineSpecError(
            f"{where}.steps[{late[0]}]: decode reads the case's file, so it must be the first step"
        )
    names = [INPUT_STAGE, *(s.name for s in steps)]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PipelineSpecError(
            f"{where}.steps: stage names must be unique (and not 'input'): {dupes}"
        )
    expected = parse_expect(spec.get("expect"), f"{where}.expect", names)
    return Pipeline(
        name=name,
        steps=steps,
        description=str(spec.get("description", "")),
        expect=expected,
        source=source,
        cases=_cases(spec, base, where),
        min_coverage=parse_coverage(spec.get("min_coverage"), f"{where}.min_coverage"),
        timeout=parse_timeout(spec.get("timeout"), f"{where}.timeout"),
    )


def parse_coverage(value: Any, where: str) -> float | None:
    """A minimum share of a model's layers or nodes that must be compared: 0..1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise PipelineSpecError(f"{where}: a share of the model's layers, from 0 to 1 (0.9: 90%)")
    return float(value)


def parse_timeout(value: Any, where: str) -> float | None:
    """Seconds a step (or the code between two taps) may take on each side: > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise PipelineSpecError(f"{where}: seconds a step may take on each side, a number > 0")
    if value == float("inf"):
        raise PipelineSpecError(f"{where}: a finite number of seconds")
    return float(value)


def _parse_code_pipeline(spec: dict, source: str | None, where: str) -> CodePipeline:
    only_keys(
        spec, {"name", "description", "code", "tolerance", "expect", "cases", "timeout"}, where
    )
    name, base = _name(spec, where), _base(source)
    python, function, module, export, serve, identity = parse_code(
        spec["code"], base, f"{where}.code"
    )
    tolerance = object_field(spec, "tolerance", where)
    for tap, settings in tolerance.items():
        parse_tolerance(settings, f"{where}.tolerance.{tap}")
    return CodePipeline(
        name=name,
        python=python,
        python_function=function,
        js_module=module,
        js_export=export,
        serve=serve,
        tolerance=tolerance,
        description=str(spec.get("description", "")),
        expect=parse_expect(spec.get("expect"), f"{where}.expect", None, taps=True),
        source=source,
        cases=_cases(spec, base, where),
        timeout=parse_timeout(spec.get("timeout"), f"{where}.timeout"),
        python_identity=identity,
    )


def _name(spec: dict, where: str) -> str:
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise PipelineSpecError(f"{where}.name: required, a non-empty string")
    return name


def _base(source: str | None) -> Path:
    """What the file's relative paths (models, code, cases) are relative to."""
    return Path(source).parent if source else Path.cwd()


def _cases(spec: dict, base: Path, where: str) -> tuple[CaseSource, ...]:
    if "cases" not in spec:
        return ()
    try:
        return parse_case_list(spec["cases"], base, f"{where}.cases")
    except CaseListError as e:
        raise PipelineSpecError(str(e)) from None


def load(path: Path) -> Pipeline | CodePipeline:
    try:
        spec = read_json(path)
    except JsonFileError as e:
        raise PipelineSpecError(str(e)) from None
    return parse(spec, source=str(path))
