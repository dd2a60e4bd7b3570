"""pytest plugin (entry point `tfjs_parity`): parity tests against real browsers.

Options: options.py. Fixtures: `parity_harness` (session: server + browsers, where
`parity_connect_options` says for a remote Chromium), `parity_browser` and `parity_backend`
(parametrised by the options in pytest_generate_tests), `parity_check` (function: run a pipeline
file on its cases on this browser/backend, fail with the per-stage table of every run that does not
pass), `parity_run` (one pipeline on one case, a RunResult), `assert_parity`. Markers:
`parity_backends("wasm", "cpu")` runs a test on those backends only (of the ones asked for);
`parity_skip_backends("webgpu", reason=...)` skips it on those.
A failing parity test keeps its run as JSON under --parity-out (default .parity-artifacts/)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.pytest_plugin import options, outcomes, stash
from harness.specs.variants import DEFAULT_VARIANTS, candidates, parse_reference

# The rest of the harness (numpy, the comparator, TensorFlow when a test needs it) is imported
# inside the fixtures and hooks that use it: pytest imports this plugin in every run of every
# project where the package is installed, parity tests or not.
if TYPE_CHECKING:
    from harness.core.results import RunResult
    from harness.orchestrate.orchestrator import Harness
    from harness.specs.cases import Case
    from harness.specs.code_pipeline import CodePipeline
    from harness.specs.spec import Pipeline


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[stash.RUNS] = []
    config.stash[stash.SIGNALS] = []
    # SIGTERM (a CI cancel, `timeout`) is handled as pytest handles Ctrl-C: fixtures torn down
    # (browsers closed), the report written, marked interrupted. Only where nobody else set a
    # handler, in the main thread (where signals are handled).
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):

        def _terminate(signum: int, _frame: object) -> None:
            config.stash[stash.SIGNALS].append(signal.Signals(signum).name)
            if len(config.stash[stash.SIGNALS]) == 1:  # a second one lets the teardown end
                raise KeyboardInterrupt(f"terminated by {signal.Signals(signum).name}")

        signal.signal(signal.SIGTERM, _terminate)
        config.stash[stash.HANDLER] = _terminate
        config.add_cleanup(lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    config.addinivalue_line("markers", "parity: runs TF.js in a real browser against Python")
    config.addinivalue_line(
        "markers", "parity_backends(*variants): run this parity test on these backends only"
    )
    config.addinivalue_line(
        "markers", "parity_skip_backends(*variants, reason=...): skip this test on these backends"
    )
    options.check(config)
    from harness.pytest_plugin import workers  # pytest-xdist: runs go home test by test

    config.pluginmanager.register(workers.Streaming(config), "tfjs-parity-workers")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if "parity_backend" in metafunc.fixturenames:
        variants = config.getoption("parity_backend") or list(DEFAULT_VARIANTS)
        reference = parse_reference(config.getoption("parity_reference"))
        variants = candidates(
            variants, reference, config.getoption("parity_browser") or ["chromium"]
        )
        only = metafunc.definition.get_closest_marker("parity_backends")
        if only is not None:
            variants = [v for v in variants if v in only.args]
        skip = metafunc.definition.get_closest_marker("parity_skip_backends")
        params = [
            pytest.param(
                v,
                marks=pytest.mark.skip(reason=skip.kwargs.get("reason", f"skipped on {v}")),
            )
            if skip is not None and v in skip.args
            else v
            for v in variants
        ]
        if not params:  # nothing asked for is allowed: one skipped test says why
            params = [
                pytest.param(
                    None, marks=pytest.mark.skip(reason=options.no_backend(only, reference.variant))
                )
            ]
        metafunc.parametrize("parity_backend", params, scope="session")
    if "parity_browser" in metafunc.fixturenames:
        browsers = config.getoption("parity_browser") or ["chromium"]
        metafunc.parametrize("parity_browser", browsers, scope="session")


@pytest.fixture(scope="session")
def parity_connect_options(pytestconfig: pytest.Config) -> dict[str, Any] | None:
    """Playwright connect options of a remote Chromium ({"endpoint": "ws://...", "headers": {...},
    "timeout": ms}; None: Debian's, here), from --parity-connect; override it in a conftest."""
    url = pytestconfig.getoption("parity_connect")
    return {"endpoint": url} if url else None


@pytest.fixture(scope="session")
def parity_harness(
    pytestconfig: pytest.Config, parity_connect_options: dict[str, Any] | None
) -> Iterator[Harness]:
    """The server and the browsers, started once per session (per xdist worker)."""
    from harness.orchestrate.orchestrator import Harness

    try:  # said without a traceback, which would print the fixture's value (credentials)
        where = options.endpoints(pytestconfig, parity_connect_options)
    except pytest.UsageError as e:
        pytest.fail(str(e), pytrace=False)
    with Harness(**options.harness_settings(pytestconfig), endpoints=where) as harness:
        yield harness
        pytestconfig.stash[stash.SESSION] = {
            "environment": harness.environment(),
            "timings": {k: round(v, 3) for k, v in harness.timings.seconds.items()},
        }
        pytestconfig.stash[stash.RERECORDED] = list(harness.side.rerecorded)
        pytestconfig.stash[stash.KEPT] = bool(harness.keeper and harness.keeper.written)


@pytest.fixture
def parity_run(
    request: pytest.FixtureRequest,
    parity_harness: Harness,
    parity_browser: str,
    parity_backend: str,
) -> Callable[[str | Path | Pipeline, str | Path | Case], RunResult]:
    """Run a pipeline (bundled name, JSON path or Pipeline) on a case (bundled id, DICOM path or
    Case) in this test's browser and backend; every stage compared with Python."""
    from harness.core.results import CaseResult
    from harness.orchestrate.suite import bundled_case
    from harness.pytest_plugin.given import decodes_itself, load_pipeline
    from harness.pytest_plugin.recorder import is_recorded, recorded_run
    from harness.specs import cases

    request.node.stash[stash.TEST_RUNS] = []
    target = (parity_browser, parity_backend)
    reference = parse_reference(request.config.getoption("parity_reference"))
    if reference.is_page(*target):  # another browser's page of this variant is compared
        pytest.skip(f"{reference.name} is the reference (--parity-reference): not compared")

    # as `run`: a backend nobody named that cannot start here (no WebGPU in this browser) is a
    # skipped test saying why; one named with --parity-backend is an error
    unavailable = "error" if request.config.getoption("parity_backend") else "skipped"

    def run(pipeline: str | Path | Pipeline | CodePipeline, case: str | Path | Case) -> RunResult:
        pipeline = load_pipeline(request.config, pipeline)
        if isinstance(case, str | Path):
            case = cases.from_file(Path(case)) if decodes_itself(pipeline) else bundled_case(case)
        result = recorded_run(request.config, parity_harness, pipeline, case, *target) or (
            parity_harness.run(pipeline, case, *target, unavailable)
        )
        test = request.node.nodeid
        entry = CaseResult(case.id, pipeline.name, meta=case.meta, runs=[result], test=test)
        request.node.stash[stash.TEST_RUNS].append((entry, result))
        request.config.stash[stash.RUNS].append((test, entry))
        if result.status == "skipped" and not is_recorded(result):  # not here, and not named
            outcomes.skip(result.reason or "")
        return result

    return run


@pytest.fixture
def parity_check(
    request: pytest.FixtureRequest,
    parity_run: Callable[[str | Path | Pipeline | CodePipeline, str | Path | Case], RunResult],
) -> Callable[..., list[RunResult]]:
    """`parity_check(pipeline_file, cases=None)`: the pipeline (a file, bundled name or parsed
    pipeline) on each of its cases (its file's `cases`, or the ones given: paths or Cases) on
    this test's browser and backend; every case runs, then the test fails with the per-stage
    table of each run that did not pass."""
    from harness.conversion.models import ConversionError
    from harness.orchestrate.suite import SuiteError
    from harness.pytest_plugin.given import case_id, load_pipeline, with_ids
    from harness.pytest_plugin.recorder import RECORDED, is_recorded
    from harness.report import wording
    from harness.specs.cases import CaseListError, CaseSource
    from harness.specs.extensions import input_errors
    from harness.specs.params import PipelineSpecError

    LOAD_ERRORS = (*input_errors(), CaseListError, PipelineSpecError, ConversionError, OSError)

    def check(
        pipeline: str | Path | Pipeline | CodePipeline,
        cases: Sequence[str | Path | Case] | None = None,
    ) -> list[RunResult]:
        pipeline = load_pipeline(request.config, pipeline)
        if not (cases if cases is not None else pipeline.cases):
            raise pytest.UsageError(
                f"pipeline {pipeline.name!r} lists no cases: give cases=[...] to parity_check"
            )
        chosen = with_ids(pipeline, cases) if cases is not None else list(pipeline.cases)
        runs, failed = [], []
        for case in chosen:
            if isinstance(case, CaseSource):  # loaded here: a bad file is that case's error
                try:
                    case = case.load()
                except LOAD_ERRORS as e:
                    failed.append(f"case {case.id}: could not be loaded: {e}")
                    continue
            try:  # a bundled id or a path, read here: one that cannot be is that case's error
                run = parity_run(pipeline, case)
            except (*input_errors(), CaseListError, SuiteError) as e:
                failed.append(f"case {case_id(case)}: could not be loaded: {e}")
                continue
            runs.append(run)
            if not run.passed and not is_recorded(run):
                failed.append(f"case {case_id(case)}: {wording.explain(run)}")
        if failed:
            pytest.fail(
                f"{len(failed)} of {len(chosen)} case(s) of {pipeline.name} do not pass:\n"
                + "\n".join(failed),
                pytrace=False,
            )
        if runs and all(is_recorded(r) for r in runs):
            outcomes.skip(f"{len(runs)} case(s) of {pipeline.name} {RECORDED.strip()} the store")
        return runs

    return check


@pytest.fixture
def assert_parity() -> Callable[[RunResult], None]:
    return assert_run_passed


def assert_run_passed(run: RunResult) -> None:
    """Fail with a torch.testing-style message and the per-stage table."""
    from harness.pytest_plugin.recorder import is_recorded
    from harness.report import wording

    if is_recorded(run):
        outcomes.skip(run.reason or "")
    if not run.passed:
        pytest.fail(wording.explain(run), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    runs = item.stash.get(stash.TEST_RUNS, None)
    if report.failed and call.when == "call" and runs:
        from harness.pytest_plugin.artifacts import keep_failed

        path = keep_failed(item.config.getoption("parity_out"), item.nodeid, runs)
        report.sections.append(("parity artifacts", f"runs kept in {path}"))
    return report


@pytest.hookimpl(trylast=True)  # after the runner's, which tears down the session's harness
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """An xdist worker sends its runs home. Records re-written by --parity-references-update
    fail the session unless accepted."""
    from harness.pytest_plugin import summary, workers

    if workers.is_worker(session.config):
        summary.send_home(session.config)
    options.fail_if_rerecorded(session, exitstatus, summary.rerecorded(session.config))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> Iterator[None]:
    """Around every terminal summary (ours writes the report): a SIGTERM that lands there, the
    tests all done, waits until the summary is written, then ends pytest as SIGTERM does; it
    used to escape as a traceback and leave no report."""
    ours = signal.getsignal(signal.SIGTERM)
    mine = ours is config.stash.get(stash.HANDLER, None)  # else not ours to change
    late: list[int] = []
    if mine:
        signal.signal(signal.SIGTERM, lambda signum, _frame: late.append(signum))
    try:
        yield
        from harness.pytest_plugin import summary

        summary.write(terminalreporter, exitstatus, config)
    finally:
        if mine:
            signal.signal(signal.SIGTERM, ours)
        if late:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
