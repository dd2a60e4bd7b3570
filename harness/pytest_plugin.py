"""pytest plugin (entry point `tfjs_parity`): parity tests against real browsers.

Options: --parity-backend (repeatable; default cpu, wasm, webgl, webgpu), --parity-browser
(repeatable; default chromium), --parity-out DIR (report.json of the session's parity runs).
Fixtures: `parity_harness` (session: server + browsers), `parity_browser` and `parity_backend`
(parametrised by the options in pytest_generate_tests), `parity_run` (function: run a pipeline
on a case on this browser/backend and get a RunResult), `assert_parity`.
A failing parity test keeps its run as JSON under --parity-out (default .parity-artifacts/).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.cases import Case
from harness.compare.tolerance import parse_override
from harness.pipeline.spec import Pipeline
from harness.report import json_report, terminal
from harness.results import CaseResult, Report, RunResult
from harness.runner import BROWSERS, Harness
from harness.runtimes.backends import DEFAULT_VARIANTS, parse_variant
from harness.suite import bundled_case, bundled_pipeline

_RUNS_KEY = pytest.StashKey[list[tuple[str, CaseResult]]]()
_TEST_RUNS_KEY = pytest.StashKey[list[tuple[CaseResult, RunResult]]]()
_SESSION_KEY = pytest.StashKey[dict]()  # environment and timings, kept past the harness' end


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tfjs-parity", "TF.js vs Python parity")
    group.addoption(
        "--parity-backend",
        action="append",
        metavar="VARIANT",
        help=f"backend variant to test (repeatable; default: {', '.join(DEFAULT_VARIANTS)}); "
        "e.g. webgl:f16, webgl:nocpuforward",
    )
    group.addoption(
        "--parity-browser",
        action="append",
        choices=BROWSERS,
        help="browser to test (repeatable; default: chromium)",
    )
    group.addoption(
        "--parity-tolerance",
        action="append",
        default=[],
        metavar="[STAGE][@VARIANT]:KEY=VALUE",
        help="override the tolerance policy (repeatable), e.g. resize:atol=1e-4,rtol=1e-3",
    )
    group.addoption(
        "--parity-out",
        type=Path,
        default=None,
        help="write report.json of the session's parity runs, and failed runs' artifacts, here "
        "(default: failed runs go to .parity-artifacts/)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RUNS_KEY] = []
    config.addinivalue_line("markers", "parity: runs TF.js in a real browser against Python")
    for v in config.getoption("parity_backend") or ():
        try:
            parse_variant(v)
        except ValueError as e:
            raise pytest.UsageError(f"--parity-backend: {e}") from None
    for text in config.getoption("parity_tolerance"):
        try:
            parse_override(text)
        except ValueError as e:
            raise pytest.UsageError(f"--parity-tolerance: {e}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if "parity_backend" in metafunc.fixturenames:
        variants = config.getoption("parity_backend") or list(DEFAULT_VARIANTS)
        metafunc.parametrize("parity_backend", variants, scope="session")
    if "parity_browser" in metafunc.fixturenames:
        browsers = config.getoption("parity_browser") or ["chromium"]
        metafunc.parametrize("parity_browser", browsers, scope="session")


@pytest.fixture(scope="session")
def parity_harness(pytestconfig: pytest.Config) -> Iterator[Harness]:
    """The loopback server and the browsers, started once per session (per xdist worker)."""
    overrides = [parse_override(t) for t in pytestconfig.getoption("parity_tolerance")]
    with Harness(overrides=overrides) as harness:
        yield harness
        pytestconfig.stash[_SESSION_KEY] = {
            "environment": harness.environment(),
            "timings": {k: round(v, 3) for k, v in harness.timings.seconds.items()},
        }


@pytest.fixture
def parity_run(
    request: pytest.FixtureRequest,
    parity_harness: Harness,
    parity_browser: str,
    parity_backend: str,
) -> Callable[[str | Path | Pipeline, str | Path | Case], RunResult]:
    """Run a pipeline (bundled name, JSON path or Pipeline) on a case (bundled id, DICOM path or
    Case) in this test's browser and backend; every stage compared with Python."""
    request.node.stash[_TEST_RUNS_KEY] = []

    def run(pipeline: str | Path | Pipeline, case: str | Path | Case) -> RunResult:
        pipeline = bundled_pipeline(pipeline) if isinstance(pipeline, str | Path) else pipeline
        case = bundled_case(case) if isinstance(case, str | Path) else case
        result = parity_harness.run(pipeline, case, parity_browser, parity_backend)
        entry = CaseResult(case=case.id, pipeline=pipeline.name, meta=case.meta, runs=[result])
        request.node.stash[_TEST_RUNS_KEY].append((entry, result))
        request.config.stash[_RUNS_KEY].append((request.node.nodeid, entry))
        return result

    return run


@pytest.fixture
def assert_parity() -> Callable[[RunResult], None]:
    return assert_run_passed


def assert_run_passed(run: RunResult) -> None:
    """Fail with a torch.testing-style message and the per-stage table."""
    if not run.passed:
        pytest.fail(terminal.explain(run), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    runs = item.stash.get(_TEST_RUNS_KEY, None)
    if report.failed and call.when == "call" and runs:
        out = item.config.getoption("parity_out") or Path(".parity-artifacts")
        folder = out / "failed" / re.sub(r"[^\w.-]+", "_", item.nodeid)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "runs.json"
        entries = [Report(environment={}, cases=[c]).to_dict()["cases"][0] for c, _ in runs]
        path.write_text(json.dumps(entries, indent=2) + "\n")
        report.sections.append(("parity artifacts", f"runs kept in {path}"))
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    runs = config.stash.get(_RUNS_KEY, [])
    if not runs:
        return
    session = config.stash.get(_SESSION_KEY, {"environment": {}, "timings": {}})
    report = Report(cases=[entry for _, entry in runs], **session)
    terminalreporter.section("tfjs-parity")
    terminalreporter.write_line(terminal.render(report))
    out = config.getoption("parity_out")
    if out:
        path = json_report.write(report, out)
        terminalreporter.write_line(f"report: {path}")
