"""One session: the server and browsers, the reference every candidate is compared with, and
the plan of one run (chained pass, repeat, isolated pass, comparison). Both the CLI and the
pytest plugin run everything through `Harness.run`, so a parity test and `tfjs-parity run`
reach the same verdict for the same (pipeline, case, browser, backend)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.compare.budget import Terms
from harness.compare.tolerance import Override
from harness.conversion import models
from harness.core import paths
from harness.core.outputs import DEFAULT_MAX_STAGE_MB, RuntimeOutput
from harness.core.results import RunResult
from harness.core.timings import Timings
from harness.orchestrate import tapped
from harness.orchestrate.environment import describe
from harness.orchestrate.errors import run_error
from harness.orchestrate.keep import TensorKeeper, step_descriptions
from harness.orchestrate.options import RunOptions
from harness.orchestrate.passes import candidate_passes
from harness.orchestrate.reference_side import ReferenceSide, ReferenceUnavailable
from harness.orchestrate.references import reference_key
from harness.orchestrate.steps import HintCache, Judging, judge_steps
from harness.runtimes import page_assets
from harness.runtimes.browser import BackendPage, BackendUnavailable
from harness.runtimes.browser_session import BrowserSession
from harness.runtimes.browsers import Browsers
from harness.runtimes.driver import BrowserUnavailable
from harness.runtimes.endpoints import Endpoints, serve
from harness.runtimes.page_runtime import PageRuntime, page_steps
from harness.runtimes.server import ParityServer
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline
from harness.specs.spec import Pipeline
from harness.specs.variants import Side, parse_variant


class Harness:
    """Use as a context manager; browsers start on first use and stay up until exit. Each run
    compares a candidate page with the session's reference: Python, live or recorded (the
    default plan), or a page (`reference="wasm"`). Options: `RunOptions`."""

    def __init__(
        self,
        isolated: bool = True,
        repeat: bool = True,
        overrides: Sequence[Override] = (),
        hints: bool = True,
        min_coverage: float | None = None,
        timeout: float | None = None,
        max_stage_mb: float | None = None,
        reference: str = "python",
        references: Path | None = None,
        update_references: bool = False,
        keeper: TensorKeeper | None = None,
        endpoints: Endpoints | None = None,
    ) -> None:
        """See RunOptions; `endpoints`: where the browsers are (Endpoints). ValueError for a
        bad setting (max_stage_mb, reference, cache size)."""
        self.options = RunOptions(
            isolated, repeat, tuple(overrides), hints, min_coverage, timeout,
            max_stage_mb or DEFAULT_MAX_STAGE_MB, reference, references, update_references,
        )  # fmt: skip
        self.timings = Timings()
        self.keeper = keeper  # failing stages' arrays kept beside the report, or nothing
        self.endpoints = endpoints or Endpoints()
        self.side = ReferenceSide(lambda: self.options, self.timings, lambda: self.browsers)
        paths.check_cache()
        self._hints = HintCache()
        self._server: ParityServer | None = None
        self._browsers: Browsers | None = None

    # the options, read (and changed between runs, by the benchmarks and tests) one by one
    isolated = property(lambda self: self.options.isolated, lambda self, v: self._set(isolated=v))
    repeat = property(lambda self: self.options.repeat, lambda self, v: self._set(repeat=v))
    overrides = property(lambda self: self.options.overrides)
    hints = property(lambda self: self.options.hints, lambda self, v: self._set(hints=v))
    max_stage_mb = property(
        lambda self: self.options.max_stage_mb, lambda self, v: self._set(max_stage_mb=v)
    )

    def _set(self, **changes: Any) -> None:
        """The options for the runs from now on (ValueError for a bad one)."""
        self.options = dataclasses.replace(self.options, **changes)
        if self._browsers is not None:
            self._browsers.max_stage_mb = self.options.max_stage_mb

    def __enter__(self) -> Harness:
        self._server = serve(page_assets.web_mounts(), self.endpoints).start()
        self._browsers = Browsers(
            self._server, self.timings, self.options.max_stage_mb, self.endpoints
        )
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # Ctrl-C or SIGTERM: closing the browsers at once ends every call in flight
        stopping = exc_type is not None and not issubclass(exc_type, Exception)
        if self._browsers:
            self._browsers.close(stopping)
        if self._server:
            self._server.stop()

    @property
    def server(self) -> ParityServer:
        if self._server is None:
            raise RuntimeError("use Harness as a context manager")
        return self._server

    @property
    def browsers(self) -> Browsers:
        if self._browsers is None:
            raise RuntimeError("use Harness as a context manager")
        return self._browsers

    def session(self, browser: str) -> BrowserSession:
        """The running browser (Browsers.session)."""
        return self.browsers.session(browser)

    def backend_page(self, browser: str, variant: str) -> BackendPage:
        """The variant's page, ready (Browsers.page)."""
        return self.browsers.page(browser, variant)

    def js_steps(self, pipeline: Pipeline, case: Case) -> list[dict[str, Any]]:
        """What the page runs (page_runtime.page_steps)."""
        return page_steps(self.server, pipeline, case, self.timings)

    def step_timeout(self, pipeline: Pipeline | CodePipeline) -> float:
        """Seconds each step (or the code between two taps) may take on each side."""
        return self.options.step_timeout(pipeline.timeout)

    def reference(self, pipeline: Pipeline | CodePipeline, case: Case) -> RuntimeOutput:
        """The session's reference outputs for this case (ReferenceSide.output)."""
        return self.side.output(pipeline, case)

    def budgets(self, pipeline: Pipeline, case: Case) -> dict[str, Terms]:
        """Per stage (and model layer), its float terms (ReferenceSide.budgets)."""
        return self.side.budgets(pipeline, case)

    def run_many(
        self,
        pipeline: Pipeline | CodePipeline,
        case: Case,
        targets: Sequence[tuple[str, str]],
        unavailable_status: str = "error",
    ) -> list[RunResult]:
        """`run` on several (browser, variant) pages at once, results in the order given.

        Each page is its own renderer process, so the backends compute in parallel on the
        machine's cores; the reference is computed once, before."""
        for _, variant in targets:
            parse_variant(variant)
        steps: list[dict[str, Any]] | None = None
        try:
            with contextlib.suppress(ReferenceUnavailable):  # each run reports it
                self.reference(pipeline, case)  # (none: no page step is worth converting)
                if isinstance(pipeline, Pipeline):
                    self.budgets(pipeline, case)
                    # the page's steps once for every page: models converted before the threads
                    with contextlib.suppress(models.ConversionError):  # each run reports it
                        steps = self.js_steps(pipeline, case)
        except Exception as e:  # the harness broke on this case: every run says so, none passes
            return [
                self._crashed(RunResult(browser=b, backend=v, status="error"), e)
                for b, v in targets
            ]
        for browser in {b for b, _ in targets}:
            with contextlib.suppress(BrowserUnavailable):  # each run reports it
                self.session(browser)
        pool = concurrent.futures.ThreadPoolExecutor(max(1, len(targets)))
        try:
            futures = [
                pool.submit(self.run, pipeline, case, b, v, unavailable_status, steps)
                for b, v in targets
            ]
            return [f.result() for f in futures]
        except BaseException:  # Ctrl-C, SIGTERM: do not wait for the pages' passes to end;
            pool.shutdown(wait=False, cancel_futures=True)  # closing the browser ends them
            raise
        finally:
            pool.shutdown(wait=False)

    def run(
        self,
        pipeline: Pipeline | CodePipeline,
        case: Case,
        browser: str,
        variant: str,
        unavailable_status: str = "error",
        js_steps: list[dict[str, Any]] | None = None,
    ) -> RunResult:
        """Run one (pipeline, case) on one page and compare every stage with the reference.

        A backend or browser that cannot start gives `unavailable_status` (error, or skipped
        when the user did not ask for that backend by name) with the reason. `js_steps`
        replaces what the page runs (default: `js_steps(pipeline, case)`), e.g. to try a
        changed TF.js model against the same reference.

        Anything that breaks inside the harness (an exception of its own, not a JS or Python
        failure of the user's steps, which are stage failures) makes this run an error that
        names it; it never passes, and the next run goes on. ValueError: the candidate is the
        reference itself, or an unknown variant (usage errors)."""
        parse_variant(variant)  # a typo is a usage error, not a skipped run
        if self.options.side.is_page(browser, variant):
            raise ValueError(
                f"{browser}:{variant} is the reference ({self.options.side.name}): compare it "
                "with another"
            )
        result = RunResult(
            browser=browser, backend=variant, status="ok", reference=self.options.side.name
        )
        try:
            return self._run(pipeline, case, result, unavailable_status, js_steps)
        except Exception as e:
            return self._crashed(result, e)

    def _run(
        self,
        pipeline: Pipeline | CodePipeline,
        case: Case,
        result: RunResult,
        unavailable_status: str,
        js_steps: list[dict[str, Any]] | None,
    ) -> RunResult:
        code = isinstance(pipeline, CodePipeline)
        if code and case.file is None:
            result.status, result.reason = "error", f"case {case.id!r} has no file for the code"
            return result
        try:
            reference = self.reference(pipeline, case)
        except ReferenceUnavailable as e:
            result.status, result.reason = "error", str(e)
            return result
        candidate = PageRuntime(self.browsers, Side(result.browser, result.backend), js_steps)
        try:
            candidate.open()
        except (BrowserUnavailable, BackendUnavailable) as e:
            result.status, result.reason = unavailable_status, str(e)
            return result
        result.precision = candidate.precision
        # float16 when either side stores values in float16
        sides = (candidate.precision, self.side.precision())
        precision = "float16" if "float16" in sides else "float32"
        explain = self.options.side.is_python
        if isinstance(pipeline, CodePipeline):
            return tapped.run(
                self.options, self.timings, pipeline, case, reference, candidate, result,
                precision, explain, self.keeper,
            )  # fmt: skip
        try:
            if candidate.js_steps is None:
                candidate.js_steps = self.js_steps(pipeline, case)
        except models.ConversionError as e:
            result.status, result.reason = "error", str(e)
            return result

        chained, isolated = candidate_passes(candidate, pipeline, case, reference, self.options)
        budgets = self.budgets(pipeline, case)
        if reference.budgeted is not None:  # a page: only where the Python op's budget holds
            budgets = {k: t for k, t in budgets.items() if k in reference.budgeted}
        judging = Judging(
            self.options, self.timings, self._hints, reference_key(pipeline, case), budgets,
            explain, None if explain else self.side.python_output(pipeline, case), sides[1],
        )  # fmt: skip
        try:
            judge_steps(judging, result, pipeline, case, reference, chained, isolated, precision)
            if self.keeper is not None:
                steps = step_descriptions(pipeline, case, candidate.js_steps, result.backend)
                self.keeper.keep_run(
                    (pipeline.name, pipeline.source), case.id, result, reference, chained, isolated,
                    pipeline.stage_names, steps,
                )  # fmt: skip
        finally:  # the page drops what it held for these calls; pulls count as transfer
            for out in (chained, isolated):
                if out is not None:
                    candidate.release(out)
        result.timings = {k: round(v, 4) for k, v in chained.timings.items()}
        return result

    def _crashed(self, result: RunResult, error: Exception) -> RunResult:
        """`result` as an error that names what broke in the harness and where; the stages it
        had already compared are kept."""
        result.reference = self.options.side.name
        result.status, result.reason = "error", run_error(error)
        return result

    def environment(self) -> dict[str, Any]:
        """report.json's `environment` (environment.describe)."""
        return describe(self._browsers, self.side.describe())
