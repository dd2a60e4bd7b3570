"""The session's reference side: Python (the default plan) or a page (backend vs backend), its
outputs per case, the float budgets its comparisons use, and the precision it stores values in."""

from __future__ import annotations

from collections.abc import Callable

from harness.compare.budget import Terms
from harness.core.outputs import RuntimeOutput, StageFailure
from harness.core.timings import Timings
from harness.orchestrate import tapped
from harness.orchestrate.options import RunOptions
from harness.orchestrate.references import References, reference_key
from harness.runtimes.browser import BackendUnavailable
from harness.runtimes.browsers import Browsers
from harness.runtimes.driver import BrowserUnavailable
from harness.runtimes.page_runtime import PageRuntime
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
        self.references = References(timings)  # ValueError: a bad cache setting, said
        self.python = PythonRuntime()

    def python_output(self, pipeline: Pipeline | CodePipeline, case: Case) -> RuntimeOutput:
        """Python's outputs, once per content (steps and settings, or code; input bytes)."""
        limit = self._options().step_timeout(pipeline.timeout)
        return self.references.get(
            content_key(pipeline, case), lambda: self.python.run(pipeline, case, timeout=limit)
        )

    def output(self, pipeline: Pipeline | CodePipeline, case: Case) -> RuntimeOutput:
        """The reference outputs for this case: Python's, or the reference page's, read whole
        into the harness once (candidates read them in parallel). Raises
        ReferenceUnavailable when the reference page cannot start."""
        side = self._options().side
        if side.is_python:
            return self.python_output(pipeline, case)
        python = None
        if isinstance(pipeline, Pipeline):  # its stages' names and composites, its budgets
            python = self.python_output(pipeline, case)
        key = f"{side.name}:{content_key(pipeline, case)}"
        return self.references.get(
            key, lambda: self._page_output(pipeline, case, python), "page_reference"
        )

    def _page_output(
        self, pipeline: Pipeline | CodePipeline, case: Case, python: RuntimeOutput | None
    ) -> RuntimeOutput:
        options = self._options()
        side = options.side
        runtime = PageRuntime(self._browsers(), side)
        try:
            runtime.open()
        except (BrowserUnavailable, BackendUnavailable) as e:
            raise ReferenceUnavailable(f"the reference {side.name} cannot run here: {e}") from e
        out = runtime.run(pipeline, case, timeout=options.step_timeout(pipeline.timeout))
        held = runtime.held(out)
        held.failures = {
            stage: StageFailure(
                f.stage, f"reference {side.name}: {f.message}", f.stack, f.harness, f.after
            )
            for stage, f in held.failures.items()
        }
        if python is not None:  # a stage that is several tensors: as the Python side names it
            held.composites = dict(python.composites)
        return held

    def budgets(self, pipeline: Pipeline, case: Case) -> dict[str, Terms]:
        """Per stage (and model layer), its float terms (PythonRuntime.terms), once per
        Python reference and dropped with it. Both sides of a page-vs-page run compute in
        float32 at least as exactly as the Python reference does: the same terms bound them."""
        python = self.python_output(pipeline, case)
        limit = self._options().step_timeout(pipeline.timeout)
        return self.references.terms(
            reference_key(pipeline, case),
            lambda: self.python.terms(pipeline, case, python, timeout=limit),
        )

    def precision(self) -> str | None:
        """The reference page's precision, from its probe; None for Python."""
        side = self._options().side
        if side.browser is None or side.variant is None:
            return None
        return self._browsers().session(side.browser).probe(side.variant).precision


def content_key(pipeline: Pipeline | CodePipeline, case: Case) -> str:
    """What a reference output is cached by: the pipeline's content and the case's bytes."""
    if isinstance(pipeline, CodePipeline):
        return tapped.reference_key(pipeline, case)
    return reference_key(pipeline, case)
