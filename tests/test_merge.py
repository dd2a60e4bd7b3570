"""Reports side by side: rows grouped by browser, and reports of xdist workers merged."""

from harness.core.results import CaseResult, Report, RunResult, StageResult
from harness.orchestrate.merge import merge_environments, merge_timings
from harness.report import html, terminal
from tests.builders import metrics
from tests.test_results import a_report


def _two_browsers() -> Report:
    """Runs in case-major order, as a suite makes them: a.dcm on both browsers, then b.dcm."""

    def run(browser: str, backend: str) -> RunResult:
        return RunResult(browser, backend, "skipped", reason=f"{browser}-{backend}")

    return Report(
        environment={},
        cases=[
            CaseResult("a.dcm", "p", runs=[run("chromium", "cpu"), run("firefox", "cpu")]),
            CaseResult("b.dcm", "p", runs=[run("chromium", "cpu"), run("firefox", "cpu")]),
            CaseResult("c.dcm", "p", status="error", reason="unreadable"),
        ],
    )


def test_the_matrix_groups_rows_by_browser_in_the_terminal_and_html():
    report = _two_browsers()
    rows = [(c.case, r and r.browser) for c, r in terminal.rows_by_browser(report.cases)]
    assert rows == [
        ("c.dcm", None),
        ("a.dcm", "chromium"),
        ("b.dcm", "chromium"),
        ("a.dcm", "firefox"),
        ("b.dcm", "firefox"),
    ]
    shown = [line for line in terminal.render(report).splitlines() if ".dcm" in line]
    assert [line.split()[:2] for line in shown[1:]] == [
        ["a.dcm", "chromium"], ["b.dcm", "chromium"], ["a.dcm", "firefox"], ["b.dcm", "firefox"]
    ]  # fmt: skip
    page = html.render(report)
    order = [page.index(f"<td>{c}</td><td>{b}</td>") for c, b in rows[1:]]
    assert order == sorted(order)


def test_workers_environments_and_timings_merge():
    first = a_report()
    second = {
        **first.environment,
        "browsers": {
            "firefox": {"version": "Firefox 140", "backends": {"wasm": {"status": "ok"}}},
            "chromium": {"version": None, "error": "gone", "backends": {}},
        },
    }
    merged = merge_environments([first.environment, second])
    assert set(merged["browsers"]) == {"chromium", "firefox"}
    # a browser one worker started is not an error because another could not start it
    chromium = merged["browsers"]["chromium"]
    assert chromium["version"] == first.environment["browsers"]["chromium"]["version"]
    assert "error" not in chromium
    assert merge_timings([{"compute": 0.5}, {"compute": 1.5, "total": 9.0}]) == {
        "compute": 2.0,
        "total": 9.0,
    }
    assert merge_timings([{"total": 4.0}, {"total": 9.0}]) == {"total": 9.0}


def test_recorded_references_of_workers_join_their_provenance():
    def worker(records: int, first: str, last: str) -> dict:
        made = {"device": "GPU A", "tensorflow": "2.19.0"}
        return {
            "reference": {
                "mode": "recorded",
                "store": "refs",
                "records_used": records,
                "rerecorded": [],
                "provenance": [
                    {**made, "records": records, "recorded": first, "recorded_last": last}
                ],
            }
        }

    env = merge_environments(
        [worker(2, "2026-11-02", "2026-11-03"), worker(3, "2026-11-01", "2026-11-02")]
    )
    reference = env["reference"]
    assert reference["records_used"] == 5
    ((p,),) = [reference["provenance"]]
    assert (p["records"], p["recorded"], p["recorded_last"]) == (5, "2026-11-01", "2026-11-03")
    assert env["reference_device"] == "recorded: GPU A"
    assert "store refs" in reference["line"]
    assert merge_environments([{}, {}]) == {}


def test_findings_and_repro_name_the_browser_when_several_are_in_the_report():
    """The same stage failing on wasm in two browsers: the findings line names both pages, and
    `repro` tells them apart by --browser (its error lists them so)."""
    import pytest

    from harness.report.repro import ReproError, choose

    def failing(browser: str) -> RunResult:
        stage = StageResult(
            "second", [2], "float32", [2], "float32", "fail", metrics(1.0), metrics(1.0), None,
            message="max abs 1", own_verdict="fail", own_error_class="semantic",
            tensors={"reference": f"{browser}/reference.npy"},
        )  # fmt: skip
        return RunResult(browser, "wasm", "ok", first_divergence="second", stages=[stage])

    entry = CaseResult("a.dcm", "p", runs=[failing("chromium"), failing("firefox")])
    (line,) = terminal.findings([entry])
    assert "[chromium wasm, firefox wasm] second" in line
    report = Report(environment={}, cases=[entry])
    with pytest.raises(ReproError, match="on chromium wasm, pipeline 'p' on firefox wasm"):
        choose(report, "a.dcm", "second", "wasm")
    run, _ = choose(report, "a.dcm", "second", "wasm", browser="firefox")
    assert run.browser == "firefox"
    single = CaseResult("a.dcm", "p", runs=[failing("firefox")])
    (line,) = terminal.findings([single])
    assert "[wasm] second" in line  # one browser: the backend says enough
