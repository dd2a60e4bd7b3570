"""Suites: pipelines x cases, run on every (browser, backend) into one Report.

A suite file is JSON: {"name": ..., "pipelines": [paths], "cases": [{"dicom": path, "stats":
"seed"}]}, paths relative to the suite file. A case that cannot be loaded (corrupt DICOM,
unsupported metadata) becomes an error entry in the report; everything else still runs.
"""

from __future__ import annotations

import functools
import json
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from harness import cases, dicom
from harness.pipeline import spec
from harness.pipeline.params import PipelineSpecError
from harness.results import CaseResult, Report, RunResult
from harness.runner import FIXTURES, Harness

DEFAULT_SUITE = FIXTURES / "suites" / "default.json"
T = TypeVar("T")


class SuiteError(ValueError):
    """A suite file that cannot be used."""


@dataclass(frozen=True)
class CaseSource:
    """Where a case comes from; loaded lazily so one bad file does not stop the suite."""

    id: str
    dicom: Path
    stats: str = "seed"

    def load(self) -> cases.Case:
        return cases.from_dicom(self.dicom, self.stats)


@dataclass(frozen=True)
class Suite:
    name: str
    pipelines: tuple[spec.Pipeline, ...]
    cases: tuple[CaseSource, ...]


def load_suite(path: Path) -> Suite:
    """A suite file, or a single pipeline file run on the default suite's cases."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SuiteError(f"{path}: cannot read ({e})") from e
    if isinstance(raw, dict) and "steps" in raw:
        default = bundled_suite()
        return Suite(raw.get("name", path.stem), (spec.parse(raw, str(path)),), default.cases)
    if not isinstance(raw, dict) or not {"pipelines", "cases"} <= set(raw):
        raise SuiteError(f"{path}: a suite has 'pipelines' and 'cases'; a pipeline has 'steps'")
    base = path.parent
    pipelines = tuple(spec.load((base / p).resolve()) for p in raw["pipelines"])
    sources = []
    for i, c in enumerate(raw["cases"]):
        if not isinstance(c, dict) or "dicom" not in c:
            raise SuiteError(f"{path}: cases[{i}] needs a 'dicom' path")
        file = (base / c["dicom"]).resolve()
        sources.append(CaseSource(c.get("id", file.stem), file, c.get("stats", "seed")))
    return Suite(raw.get("name", path.stem), pipelines, tuple(sources))


@functools.cache
def bundled_suite() -> Suite:
    return load_suite(DEFAULT_SUITE)


def bundled_pipeline(name_or_path: str | Path) -> spec.Pipeline:
    """A pipeline of the bundled suite by name (e.g. "seed"), or any pipeline file by path."""
    if isinstance(name_or_path, Path) or name_or_path.endswith(".json"):
        return spec.load(Path(name_or_path))
    return _pick("pipeline", {p.name: p for p in bundled_suite().pipelines}, name_or_path)


def bundled_case(id_or_path: str | Path) -> cases.Case:
    """A case of the bundled suite by id (e.g. "examples_overlay"), or any DICOM file by path."""
    if isinstance(id_or_path, Path) or id_or_path.endswith(".dcm"):
        return cases.from_dicom(Path(id_or_path))
    return _pick("case", {c.id: c for c in bundled_suite().cases}, id_or_path).load()


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
    loaded: dict[str, cases.Case | str] = {}
    for source in suite.cases:
        try:
            loaded[source.id] = source.load()
        except (dicom.DicomError, PipelineSpecError) as e:
            loaded[source.id] = str(e)
    try:
        for pipeline in suite.pipelines:
            for source in suite.cases:
                case = loaded[source.id]
                entry = CaseResult(case=source.id, pipeline=pipeline.name)
                report.cases.append(entry)
                if isinstance(case, str):
                    entry.status, entry.reason = "error", case
                    continue
                entry.meta = case.meta
                targets = [(b, v) for b in browsers for v in variants]
                for run in harness.run_many(pipeline, case, targets, unavailable_status):
                    entry.runs.append(run)
                    if on_run:
                        on_run(entry, run)
    finally:  # whatever happened, the report holds everything gathered so far
        report.environment = harness.environment()
        report.timings = {k: round(v, 3) for k, v in harness.timings.seconds.items()}
        report.resources = {"peak_rss_mb": peak_rss_mb()}
    return report
