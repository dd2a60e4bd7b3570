"""pytest-xdist: workers with browsers of their own, one report and one parity table with every
run, written by the controller."""

import json

import pytest

from harness.core.results import Report

pytestmark = pytest.mark.parity

USER_TESTS = """
import pytest

from harness.specs.spec import parse

@pytest.mark.parity
@pytest.mark.parametrize("k", range(10))
def test_scaled(parity_run, assert_parity, k):
    pipeline = parse({"name": f"scaled-{k}", "steps": [
        {"op": "normalize", "params": {"mean": 0.0, "std": float(k + 1)}}]})
    assert_parity(parity_run(pipeline, "examples_overlay"))
"""


def test_parity_xdist_workers_runs_merge_into_one_report_and_one_table(pytester, tmp_path):
    pytester.makepyfile(test_user=USER_TESTS)
    out = tmp_path / "out"
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "xdist", "--parity-backend", "cpu", "--parity-out", str(out)
    )
    result.assert_outcomes(passed=10)
    text = result.stdout.str()
    assert "created: 2/2 workers" in text
    assert text.count("runs: 10 passed") == 1, text  # the table, once, with every run
    report = Report.from_dict(json.loads((out / "report.json").read_text()))
    runs = report.all_runs()
    assert sorted(c.pipeline for c, _ in runs) == sorted(f"scaled-{k}" for k in range(10))
    assert report.passed and report.error is None
    assert report.environment["browsers"]["chromium"]["backends"]["cpu"]["status"] == "ok"
    assert report.timings["compute"] > 0


def test_parity_xdist_a_worker_that_crashes_fails_the_report_naming_it(pytester, tmp_path):
    """A crashed worker fails the report, saying so; the runs of every test that finished,
    on that worker too, are kept (they go home test by test)."""
    pytester.makepyfile(
        test_user=USER_TESTS.replace("range(10)", "range(3)")
        + "\n\ndef test_crash():\n    import os\n    os._exit(3)\n"
    )
    out = tmp_path / "out"
    result = pytester.runpytest_subprocess(  # one file, one worker: the crash after the rest
        "-n", "2", "-p", "xdist", "--dist", "loadfile", "--parity-backend", "cpu",
        "--parity-out", str(out)
    )  # fmt: skip
    report = Report.from_dict(json.loads((out / "report.json").read_text()))
    assert not report.passed
    assert "pytest-xdist worker gw" in report.error and "went down" in report.error
    assert "the runs of the tests it finished are in this report" in report.error
    assert result.ret != 0
    # the crashed worker had run the three others: their runs are kept
    assert result.parseoutcomes().get("passed") == 3
    assert sorted(c.pipeline for c, _ in report.all_runs()) == ["scaled-0", "scaled-1", "scaled-2"]


def test_parity_xdist_browsers_against_a_reference_page(pytester, tmp_path):
    """Two browsers on two workers against Chromium's cpu page: Chromium's cpu test is skipped
    (it is the reference), Firefox's is compared; the merged report holds both browsers."""
    from harness.runtimes.browsers import launch
    from harness.runtimes.driver import BrowserUnavailable

    try:
        launch("firefox").close()
    except BrowserUnavailable as e:
        pytest.skip(f"firefox cannot run here: {e}")
    pytester.makepyfile(test_user=USER_TESTS.replace("range(10)", "range(1)"))
    out = tmp_path / "out"
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "xdist", "-rs", "--parity-backend", "cpu",
        "--parity-browser", "chromium", "--parity-browser", "firefox",
        "--parity-reference", "chromium:cpu", "--parity-out", str(out),
    )  # fmt: skip
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*chromium:cpu is the reference (--parity-reference)*"])
    report = Report.from_dict(json.loads((out / "report.json").read_text()))
    ((_, run),) = report.all_runs()
    assert (run.browser, run.backend, run.reference) == ("firefox", "cpu", "chromium:cpu")
    assert run.passed
    assert {"chromium", "firefox"} <= set(report.environment["browsers"])
