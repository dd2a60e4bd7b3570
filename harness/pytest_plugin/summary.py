"""The session's end: the parity table of every run (with pytest-xdist, of every worker's, once,
at the controller) and --parity-out's report.json; a worker sends its runs home instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pytest_plugin import options, stash, workers


def rerecorded(config: pytest.Config) -> list[str]:
    """References re-recorded in this session, by this process and by its xdist workers."""
    gathered = config.stash.get(stash.GATHERED, None)
    mine = config.stash.get(stash.RERECORDED, [])
    return mine + (gathered.collected("rerecorded") if gathered else [])


def send_home(config: pytest.Config) -> None:
    """On an xdist worker, as it ends: its environment and timings, for the controller (its
    runs went home test by test: workers.Streaming)."""
    from harness.core.results import Report

    session = config.stash.get(stash.SESSION, {"environment": {}, "timings": {}})
    report = Report(cases=[], **session)  # its runs went home with their tests
    extra = {
        "rerecorded": config.stash.get(stash.RERECORDED, []),
        "kept": [True] if config.stash.get(stash.KEPT, False) else [],
        "signals": config.stash.get(stash.SIGNALS, []),
    }
    workers.send(config, report, extra)


def write(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """The parity table of every run, and --parity-out's report.json (not on a worker)."""
    if workers.is_worker(config):
        return
    gathered = config.stash.get(stash.GATHERED, None)
    runs = config.stash.get(stash.RUNS, []) + (gathered.runs() if gathered else [])
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    lost = gathered.lost if gathered else []
    if not runs and not lost and not (interrupted and config.getoption("parity_out")):
        return  # no parity test ran; an interrupted session still says so in --parity-out
    from harness.core.results import Report
    from harness.report import json_report, terminal

    session = config.stash.get(stash.SESSION, None)
    report = Report(cases=[entry for _, entry in runs], **(session or {"environment": {}}))
    if gathered:  # the workers' environments and timings; their cases are in `runs` already
        from harness.orchestrate.merge import merge_environments, merge_timings

        mine = [report] if session else []
        each = mine + gathered.reports
        report.environment = merge_environments([r.environment for r in each])
        report.timings = merge_timings([r.timings for r in each])
        if lost:  # the test it was on and its environment are not here: it cannot pass
            report.error = (
                "; ".join(lost) + ": the runs of the tests it finished are in this report, the "
                "test it was on, its browsers' environment and timings are not"
            )
    signals = config.stash.get(stash.SIGNALS, []) + (
        gathered.collected("signals") if gathered else []
    )
    if interrupted or signals:  # a worker stopped by a signal stops its runs, too
        report.interrupted = signals[0] if signals else "SIGINT"  # what finished is kept
    terminalreporter.section("tfjs-parity")
    terminalreporter.write_line(terminal.render(report))
    if said := options.rerecorded_message(config, rerecorded(config)):
        terminalreporter.write_line(f"tfjs-parity: {said}")
    out = config.getoption("parity_out")
    kept = config.stash.get(stash.KEPT, False) or bool(gathered and gathered.collected("kept"))
    if out is None and kept:  # the report names the kept tensors
        out = Path(".parity-artifacts")
    if out:
        path = json_report.write(report, out)
        terminalreporter.write_line(f"report: {path}")
