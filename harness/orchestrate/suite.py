"""Suites: pipelines x cases, run on every (browser, backend) into one Report.

A suite file is JSON: {"name": ..., "pipelines": [paths], "cases": [entries]}, paths relative
to the suite file; case entries as `cases.parse_case_list` reads them (files, globs, "pydicom:"
test files). A case that cannot be loaded (corrupt DICOM, unsupported metadata) becomes an error
entry in the report; everything else still runs.
"""

from __future__ import annotations

import functools
import resource
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.conversion import models
from harness.core.jsonfile import JsonFileError, read_json
from harness.core.paths import FIXTURES
from harness.core.results import CaseResult, Report, RunResult
from harness.orchestrate.model_inputs import (
    DrawnInputs,
    FileInputs,
    ModelSource,
    ShapeOverrides,
    file_inputs,
)
from harness.orchestrate.orchestrator import Harness
from harness.specs import cases, extensions, spec
from harness.specs.code_pipeline import CodePipeline
from harness.specs.params import PipelineSpecError
from harness.specs.variants import targets

DEFAULT_SUITE = FIXTURES / "suites" / "default.json"
T = TypeVar("T")


class SuiteError(ValueError):
    """A suite file that cannot be used."""


@dataclass(frozen=True)
class Suite:
    name: str
    pipelines: tuple[spec.Pipeline, ...]
    cases: tuple[cases.CaseSource | DrawnInputs | FileInputs, ...]


TFJS_ALONE = (
    "a TF.js model alone: the Python reference is rebuilt from the same model JSON and "
    "weights, so this checks TF.js's kernels on each backend against TF's, not a conversion"
)


def with_model(
    target: Path | None,
    model: Path,
    fmt: str | None = None,
    tfjs_model: Path | None = None,
    input_shape: ShapeOverrides | Sequence[int] | None = None,
    samples: int = 3,
    inputs: Sequence[Path] = (),
    value_range: tuple[float, float] | None = None,
    alone: bool = False,
) -> Suite:
    """`tfjs-parity run --model`: the user's model after a pipeline's preprocessing (the
    pipeline's own model step replaced, if it has one), on the bundled cases; or alone (with
    `alone`, an input shape, input files or a value range) on the user's `inputs` (.npy/.npz)
    or on `samples` seeded inputs of the dtype and shape its signature declares
    (model_inputs.py). `input_shape`: one shape, or shapes by input name (None: the only
    input)."""
    step: dict[str, Any] = {
        "name": "model",
        "op": "model",
        "params": {"path": str(model.resolve())},
    }
    alone_tfjs = models.is_tfjs(model) or (model / "model.json").is_file()
    if fmt:
        step["params"]["format"] = fmt
    if tfjs_model:
        step["js"] = {"tfjs_model": str(tfjs_model.resolve())}
    shapes = (
        {None: tuple(input_shape)}
        if input_shape is not None and not isinstance(input_shape, Mapping)
        else dict(input_shape or {})
    )
    if alone or shapes or inputs or value_range is not None:
        if target is not None:
            raise SuiteError(
                "--input, --input-shape and --input-range run the model alone: give no "
                "pipeline with them"
            )
        where = f"{'--tfjs-model' if alone_tfjs else '--model'} {model}"
        raw = {"name": model.stem, "steps": [step]}
        if alone_tfjs:
            raw["name"] = model.parent.name if model.name == "model.json" else model.stem
            raw["description"] = TFJS_ALONE
        try:
            pipeline = spec.parse(raw, where)
        except PipelineSpecError as e:  # in the user's terms: the flags, not a pipeline file
            text = str(e).replace(f"{where}.steps[0].params.format: ", f"{where}: --model-format: ")
            raise SuiteError(text.replace(f"{where}.steps[0].", f"{where}: ")) from None
        python = pipeline.steps[0].python
        source = ModelSource(Path(python["path"]), python["format"], tfjs_model)
        cases_ = _alone_cases(source, shapes, samples, inputs, value_range)
        return Suite(pipeline.name, (pipeline,), cases_)
    base = target or bundled_pipeline_path("seed-matched")
    try:
        raw = read_json(base)
    except JsonFileError as e:
        raise SuiteError(str(e)) from None
    if not isinstance(raw, dict) or "steps" not in raw:
        raise SuiteError(f"{base}: --model goes after a pipeline file's steps, not a suite")
    steps = [s for s in raw["steps"] if not (isinstance(s, dict) and s.get("op") == "model")]
    raw = {**raw, "name": f"{raw.get('name', base.stem)}+{model.stem}", "steps": [*steps, step]}
    raw.pop("expect", None)  # the expectation was about the pipeline without this model
    return Suite(raw["name"], (spec.parse(raw, str(base)),), bundled_suite().cases)


def _alone_cases(
    source: ModelSource,
    shapes: Mapping[str | None, tuple[int, ...]],
    samples: int,
    inputs: Sequence[Path],
    value_range: tuple[float, float] | None,
) -> tuple[DrawnInputs | FileInputs, ...]:
    if inputs and (shapes or value_range is not None or samples != 3):
        raise SuiteError(
            "--input gives the values: --input-shape, --input-range and --samples draw them"
        )
    if inputs:
        return tuple(file_inputs(source, inputs))
    return tuple(
        DrawnInputs(source, seed, tuple(shapes.items()), value_range) for seed in range(samples)
    )


def pipeline_alone(
    target: Path,
    shapes: Mapping[str | None, tuple[int, ...]] | None = None,
    samples: int = 3,
    inputs: Sequence[Path] = (),
    value_range: tuple[float, float] | None = None,
) -> Suite:
    """A pipeline file whose first step is a model, run on inputs made for that model (drawn
    from its signature, or the user's files) instead of its cases."""
    pipeline = spec.load(target)
    first = pipeline.steps[0] if isinstance(pipeline, spec.Pipeline) else None
    if first is None or first.op != "model":
        raise SuiteError(
            f"{target}: --alone, --input, --input-shape and --input-range feed a model: the "
            "pipeline's first step must be one"
        )
    source = ModelSource(
        Path(first.python["path"]), first.python["format"], first.js.get("tfjs_model")
    )
    cases_ = _alone_cases(source, shapes or {}, samples, inputs, value_range)
    return Suite(pipeline.name, (pipeline,), cases_)


def bundled_pipeline_path(name: str) -> Path:
    return FIXTURES / "pipelines" / f"{name}.json"


def load_suite(path: Path) -> Suite:
    """A suite file, or a single pipeline file run on its own cases (the default suite's if it
    lists none)."""
    try:
        raw = read_json(path)
    except JsonFileError as e:
        raise SuiteError(str(e)) from None
    if isinstance(raw, dict) and ({"steps", "code"} & set(raw)):
        pipeline = spec.parse(raw, str(path))
        own = pipeline.cases or bundled_suite().cases  # its own cases, else the default suite's
        return Suite(pipeline.name, (pipeline,), own)
    if not isinstance(raw, dict) or not {"pipelines", "cases"} <= set(raw):
        raise SuiteError(
            f"{path}: a suite has 'pipelines' and 'cases'; a pipeline has 'steps' or 'code'"
        )
    base = path.parent
    if not isinstance(raw["pipelines"], list) or not all(
        isinstance(p, str) for p in raw["pipelines"]
    ):
        raise SuiteError(f"{path}: pipelines: a list of pipeline file paths")
    pipelines = []
    for i, p in enumerate(raw["pipelines"]):
        file = (base / p).resolve()
        if file == path.resolve():
            raise SuiteError(f"{path}: pipelines[{i}]: the suite names itself, not a pipeline")
        if not file.is_file():
            raise SuiteError(f"{path}: pipelines[{i}]: no pipeline file {p!r} (looked at {file})")
        pipelines.append(spec.load(file))
    try:
        sources = cases.parse_case_list(raw["cases"], base, f"{path}: cases")
    except cases.CaseListError as e:
        raise SuiteError(str(e)) from None
    if not pipelines:
        raise SuiteError(f"{path}: pipelines: lists no pipeline file, so nothing would run")
    return Suite(raw.get("name", path.stem), tuple(pipelines), sources)


@functools.cache
def bundled_suite() -> Suite:
    return load_suite(DEFAULT_SUITE)


def bundled_pipeline(name_or_path: str | Path) -> spec.Pipeline | CodePipeline:
    """A pipeline of the bundled suite by name (e.g. "seed"), or any pipeline file by path."""
    if isinstance(name_or_path, Path) or name_or_path.endswith(".json"):
        return spec.load(Path(name_or_path))
    return _pick("pipeline", {p.name: p for p in bundled_suite().pipelines}, name_or_path)


def bundled_case(id_or_path: str | Path) -> cases.Case:
    """Any file by path (a file that exists is that file, even when a bundled case has its
    name), as cases.from_path reads it (a DICOM file: no statistics table); else a case of
    the bundled suite by id (e.g. "examples_overlay.dcm", or the file's name without its
    extension when that names one bundled case), with its statistics table. Raises
    CaseListError or SuiteError naming what is missing."""
    if isinstance(id_or_path, Path) or Path(id_or_path).is_file():  # a file: that file
        return cases.from_path(Path(id_or_path))
    bundled = {c.id: c for c in bundled_suite().cases}
    if isinstance(id_or_path, str) and id_or_path not in bundled:
        stems = [c for c in bundled.values() if Path(c.id).stem == id_or_path]
        if len(stems) == 1:
            return stems[0].load()
    if id_or_path.lower().endswith(".dcm") and id_or_path not in bundled:
        return cases.from_path(Path(id_or_path))  # says there is no such file
    return _pick("case", bundled, id_or_path).load()


def _pick(kind: str, bundled: dict[str, T], name: str) -> T:
    if name not in bundled:
        raise SuiteError(f"no bundled {kind} {name!r}; bundled: {', '.join(bundled)}")
    return bundled[name]


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (the browsers are other processes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_suite(
    harness: Harness,
    suite: Suite,
    variants: Sequence[str],
    browsers: Sequence[str],
    unavailable_status: str = "error",
    on_run: Callable[[CaseResult, RunResult], None] | None = None,
    report: Report | None = None,
) -> Report:
    """Fill `report` (pass your own to keep partial results if this raises) and return it."""
    report = report if report is not None else Report(environment={})
    ids = [source.id for source in suite.cases]
    clash = sorted({i for i in ids if ids.count(i) > 1})
    if clash:  # a suite built in code: two cases under one id would be reported as one
        raise SuiteError(f"suite {suite.name!r}: case ids must be unique, repeated: {clash}")
    loaded: dict[str, cases.Case | str] = {}
    for source in suite.cases:
        try:
            loaded[source.id] = source.load()
        except (*extensions.input_errors(), PipelineSpecError, models.ConversionError) as e:
            loaded[source.id] = str(e)
    try:
        for pipeline in suite.pipelines:
            notes = [pipeline.description] if getattr(pipeline, "description", "") else []
            for step in getattr(pipeline, "steps", ()):
                if step.op != "model" or not models.is_tfjs(Path(step.python["path"])):
                    continue
                own = step.js.get("tfjs_model")
                if own and Path(own) != Path(step.python["path"]):
                    notes.append(
                        f"model step {step.name!r}: the Python reference is rebuilt from the "
                        f"TF.js model {step.python['path']}, the page runs {own}: this checks "
                        "where the two differ, and TF.js's kernels against TF's"
                    )
                elif TFJS_ALONE not in notes:
                    notes.append(f"model step {step.name!r}: {TFJS_ALONE}")
            if notes:
                report.pipelines[pipeline.name] = "; ".join(notes)
            for source in suite.cases:
                case = loaded[source.id]
                entry = CaseResult(case=source.id, pipeline=pipeline.name)
                report.cases.append(entry)
                if isinstance(case, str):
                    entry.status, entry.reason = "error", case
                    continue
                entry.meta = case.meta
                pages = targets(browsers, variants, harness.options.side)  # not the reference
                for run in harness.run_many(pipeline, case, pages, unavailable_status):
                    entry.runs.append(run)
                    if on_run:
                        on_run(entry, run)
    finally:  # whatever happened, the report holds everything gathered so far
        report.environment = harness.environment()
        report.timings = {k: round(v, 3) for k, v in harness.timings.seconds.items()}
        report.resources = {"peak_rss_mb": peak_rss_mb()}
    return report
