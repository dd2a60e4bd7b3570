"""The session's reference side: Python (the default plan) or a page (backend vs backend), its
outputs per case, the float budgets its comparisons use, and the precision it stores values in."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.compare.budget import Terms, judge
from harness.conversion.models import ConversionError
from harness.core import tf_runtime
from harness.core.outputs import RuntimeOutput, StageFailure
from harness.core.timings import Timings
from harness.golden import provenance, store
from harness.golden.recorded import RecordedRuntime, install_models
from harness.orchestrate import recording
from harness.orchestrate.options import RunOptions
from harness.orchestrate.references import References, reference_key
from harness.runtimes.browser import BackendUnavailable
from harness.runtimes.browsers import Browsers
from harness.runtimes.driver import BrowserUnavailable
from harness.runtimes.page_runtime import PageRuntime, page_steps
from harness.runtimes.python_runtime import PythonRuntime
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline
from harness.specs.spec import Pipeline


class ReferenceUnavailable(RuntimeError):
    """The page chosen as the reference cannot run here: every run compared with it is an
    error that says why."""


class ReferenceSide:
    """Outputs cached by content (`References`), so a case's reference is computed once
    whatever the number of candidates. `options` and `browsers` are read at each call: the
    session's options can change between runs, and its browsers start on entry."""

    def __init__(
        self,
        options: Callable[[], RunOptions],
        timings: Timings,
        browsers: Callable[[], Browsers],
    ) -> None:
        self._options = options
        self._browsers = browsers
        self._timings = timings
        self.references = References(timings)  # ValueError: a bad cache setting, said
        self.python = PythonRuntime()
        self._recorded_runtime: RecordedRuntime | None = None
        self._lock = threading.Lock()
        # (pipeline / case: why) of each record written by --references-update
        self.rerecorded: list[str] = []

    def python_output(self, pipeline: Pipeline | CodePipeline, case: Case) -> RuntimeOutput:
        """Python's outputs, once per content (steps and settings, or code; input bytes):
        computed live, or read from the recorded store (`RunOptions.references`). Raises
        ReferenceUnavailable when a record is missing, stale or unreadable (unless asked to
        re-record it)."""
        limit = self._options().step_timeout(pipeline.timeout)
        key = reference_key(pipeline, case)
        if self._options().references is None:
            return self.references.get(key, lambda: self.python.run(pipeline, case, timeout=limit))
        return self.references.get(
            key, lambda: self._recorded(pipeline, case, limit), "recorded_reference"
        )

    @property
    def recorded(self) -> RecordedRuntime | None:
        """The recorded store replayed from, or None when Python runs live."""
        root = self._options().references
        if root is None:
            return None
        if self._recorded_runtime is None or self._recorded_runtime.root != root:
            self._recorded_runtime = RecordedRuntime(root)
        return self._recorded_runtime

    def _recorded(
        self, pipeline: Pipeline | CodePipeline, case: Case, limit: float
    ) -> RuntimeOutput:
        recorded = self.recorded
        assert recorded is not None
        try:
            read = recorded.read(pipeline, case)
            install_models(pipeline, read, recorded.root)
            return read.output
        except store.RecordError as e:
            if not self._options().update_references:
                again = NEW if isinstance(e, store.MissingRecord) else RERECORD
                raise ReferenceUnavailable(f"{e}; {again}") from e
            return self._rerecord(pipeline, case, limit, str(e))

    def _rerecord(
        self, pipeline: Pipeline | CodePipeline, case: Case, limit: float, why: str
    ) -> RuntimeOutput:
        """--references-update: the record computed live now and written, replacing the
        stale one; said in `rerecorded`."""
        try:
            computed = recording.compute(self.python, pipeline, case, limit)
        except recording.NotRecorded as e:
            raise ReferenceUnavailable(f"{why}; re-recording it failed: {e}") from e
        root = self._options().references
        assert root is not None
        recording.write(root, pipeline, case, computed)
        with self._lock:
            self.rerecorded.append(f"{pipeline.name} / {case.id}: {why}")
        return computed.output

    def output(self, pipeline: Pipeline | CodePipeline, case: Case) -> RuntimeOutput:
        """The reference outputs for this case: Python's, or the reference page's, read whole
        into the harness once (candidates read them in parallel), cached by what the page
        runs (its steps and settings, its modules, the case's bytes). Raises
        ReferenceUnavailable when the reference page cannot start."""
        side = self._options().side
        if side.is_python:
            return self.python_output(pipeline, case)
        python = None
        if isinstance(pipeline, Pipeline):  # its stages' names and composites, its budgets
            python = self.python_output(pipeline, case)
        key = hashlib.sha256(
            json.dumps([side.name, reference_key(pipeline, case), _page_side(pipeline, case)],
                       sort_keys=True, default=str).encode()
        ).hexdigest()  # fmt: skip
        return self.references.get(
            key, lambda: self._page_output(pipeline, case, python), "page_reference"
        )

    def _page_output(
        self, pipeline: Pipeline | CodePipeline, case: Case, python: RuntimeOutput | None
    ) -> RuntimeOutput:
        options = self._options()
        side = options.side
        steps = None
        if isinstance(pipeline, Pipeline):
            try:
                steps = page_steps(self._browsers().server, pipeline, case, self._timings)
            except ConversionError as e:
                raise ReferenceUnavailable(f"the reference {side.name} cannot run it: {e}") from e
        runtime = PageRuntime(self._browsers(), side, steps)
        try:
            runtime.open()
        except (BrowserUnavailable, BackendUnavailable) as e:
            raise ReferenceUnavailable(f"the reference {side.name} cannot run here: {e}") from e
        limit = options.step_timeout(pipeline.timeout)
        held = runtime.held(runtime.run(pipeline, case, timeout=limit))
        held.failures = {
            stage: StageFailure(
                f.stage, f"reference {side.name}: {f.message}", f.stack, f.harness, f.after
            )
            for stage, f in held.failures.items()
        }
        held.budgeted = frozenset()
        if python is not None and isinstance(pipeline, Pipeline):
            held.composites = dict(python.composites)  # as the Python side names them
            if options.isolated and not held.failures:
                held.budgeted = self._budgeted(pipeline, case, python, runtime, limit)
        return held

    def _budgeted(
        self,
        pipeline: Pipeline,
        case: Case,
        python: RuntimeOutput,
        runtime: PageRuntime,
        limit: float,
    ) -> frozenset[str]:
        """The stages where a float budget derived from the Python op also bounds two pages:
        those whose own error on the reference page (each step fed Python's input) is within
        that budget. Where the page computes something else (the pipeline sets the two sides
        differently, e.g. nearest in the page and bilinear in Python), the Python op's budget
        says nothing about the page's op, and the stage is judged by its tolerance policy."""
        terms = self.budgets(pipeline, case)
        alone = runtime.run_isolated(pipeline, case, python, timeout=limit)
        if alone is None:
            return frozenset()
        precision = runtime.precision or "float32"
        try:
            found = set()
            for name, t in terms.items():
                ref, own = python.stages.get(name), alone.stages.get(name)
                # a composite stage (a model) is judged by its layers, each vouched for here
                held = isinstance(own, np.ndarray) and ref is not None
                if t.composite or (held and judge(ref, own, t, precision).verdict == "pass"):
                    found.add(name)
            return frozenset(found)
        finally:
            runtime.release(alone)

    def budgets(self, pipeline: Pipeline, case: Case) -> dict[str, Terms]:
        """Per stage (and model layer), its float terms (PythonRuntime.terms), once per
        Python reference and dropped with it."""
        python = self.python_output(pipeline, case)
        limit = self._options().step_timeout(pipeline.timeout)
        recorded = self.recorded
        if recorded is not None:
            return self.references.terms(
                reference_key(pipeline, case), lambda: recorded.terms(pipeline, case)
            )
        return self.references.terms(
            reference_key(pipeline, case),
            lambda: self.python.terms(pipeline, case, python, timeout=limit),
        )

    def describe(self) -> dict[str, Any]:
        """report.json's `environment.reference`: live or recorded, where, on which device,
        when, and `line`, the same in words."""
        page = None if self._options().side.is_python else self._options().side.name
        recorded = self.recorded
        if recorded is None:
            out: dict[str, Any] = {
                "mode": "live",
                "device": tf_runtime.describe_device(),
                "tensorflow": tf_runtime.version() if tf_runtime.loaded() else None,
            }
            out["line"] = f"live Python on {out['device']}"
            if out["tensorflow"]:
                out["line"] += f", TF {out['tensorflow']}"
        else:
            out = {
                "mode": "recorded",
                "store": str(recorded.root),
                "records_used": recorded.used(),
                "provenance": recorded.provenance(),
                "rerecorded": list(self.rerecorded),
            }
            out["line"] = recorded_line(out)
        if page is not None:
            out["page"] = page
            out["line"] = f"the page {page} (budgets from Python: {out['line']})"
        return out

    def precision(self) -> str | None:
        """The reference page's precision, from its probe; None for Python."""
        side = self._options().side
        if side.browser is None or side.variant is None:
            return None
        return self._browsers().session(side.browser).probe(side.variant).precision


RERECORD = (
    "record it again where the Python side runs (tfjs-parity record, pytest --parity-record), "
    "or now with --references-update (pytest --parity-references-update)"
)
NEW = (
    "record it where the Python side runs (tfjs-parity record, pytest --parity-record), or now "
    "with --references-update (pytest --parity-references-update)"
)


def _page_side(pipeline: Pipeline | CodePipeline, case: Case) -> list[Any]:
    """What the page runs beyond what Python runs: each step's JS settings (case values filled
    in) and custom modules, or a code pipeline's module and export."""
    if isinstance(pipeline, CodePipeline):
        return [str(pipeline.js_module), pipeline.js_export]
    modules = [(str(s.custom.js_module), s.custom.js_export) for s in pipeline.steps if s.custom]
    return [pipeline.js_steps(case.params), modules]


def recorded_line(described: dict[str, Any]) -> str:
    """The reference line of a recorded reference (describe's `mode` "recorded"): where and when
    its records were made, the store, and how many were re-recorded."""
    made = "; ".join(provenance.one_line(p) for p in described["provenance"]) or "no record read"
    line = f"{made} (store {described['store']}; no hints or diagnoses: they re-run Python's ops)"
    if described["rerecorded"]:
        line += f"; {len(described['rerecorded'])} re-recorded in this run"
    return line
