"""pytest-xdist: each worker runs its parity tests with browsers of its own. Each test's runs go
home with that test's report, as the test ends (xdist carries a report's attributes to the
controller, as it does pytest-html's `extras`), so a session cut short (Ctrl-C, SIGTERM, a
worker that crashes) keeps every run that finished. When a worker ends, it sends its
environment, timings and re-recorded references. The controller writes the one report and
prints the one parity table, with every run. Without xdist none of this is used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from harness.pytest_plugin import stash

if TYPE_CHECKING:
    from harness.core.results import CaseResult, Report

KEY = "tfjs_parity"  # in a worker's `workeroutput`, which xdist hands to the controller
ATTRIBUTE = "tfjs_parity_runs"  # on a worker's test report: that test's runs, as report.json
SENT = pytest.StashKey[int]()  # on an item: how many of its runs went home already


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def send(config: pytest.Config, report: Report, extra: dict[str, Any]) -> None:
    """Put this worker's environment and timings (`report`, its runs already sent with their
    tests) and `extra` (re-recorded references, kept tensors, signals) where xdist sends them
    home when the worker ends."""
    payload = {"report": report.to_dict(), **extra}
    config.workeroutput[KEY] = json.dumps(payload)  # type: ignore[attr-defined]


class Gathered:
    """What the controller received from its workers: runs test by test as they ended, and
    each worker's environment and timings when it ended."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.extras: list[dict[str, Any]] = []
        self.lost: list[str] = []  # workers that went down without sending, or sent garbage
        self._runs: list[tuple[str, CaseResult]] = []

    def arrived(self, nodeid: str, raw: str) -> None:
        """A test's runs, from its report (`ATTRIBUTE`)."""
        from harness.core.results import Report

        try:
            cases = Report.from_dict(json.loads(raw)).cases
        except (ValueError, KeyError, TypeError) as e:
            self.lost.append(f"the runs of {nodeid} came from its worker unreadable: {e}")
            return
        self._runs += [(nodeid, case) for case in cases]

    def receive(self, node: Any, error: object) -> None:
        """xdist's `pytest_testnodedown`: the worker's payload read back; a worker that crashed
        (or sent something unreadable) is named in `lost`, with the cause (the runs of the
        tests it finished arrived already)."""
        from harness.core.results import Report

        name = (getattr(node, "gateway", None) and node.gateway.id) or "a worker"
        raw = getattr(node, "workeroutput", {}).get(KEY)
        if raw is None:
            if error is not None:
                self.lost.append(f"pytest-xdist worker {name} went down ({error})")
            return
        try:
            payload = json.loads(raw)
            report = Report.from_dict(payload.pop("report"))
        except (ValueError, KeyError, TypeError) as e:
            self.lost.append(
                f"pytest-xdist worker {name} sent a parity report that cannot be read: {e}"
            )
            return
        self.reports.append(report)
        self.extras.append(payload)
        if error is not None:
            self.lost.append(f"pytest-xdist worker {name} went down after sending ({error})")

    def runs(self) -> list[tuple[str, Any]]:
        """(test id, CaseResult) of every worker's tests, in the order the tests ended."""
        return list(self._runs)

    def collected(self, key: str) -> list[Any]:
        """`key` of every worker's extras, lists joined."""
        return [x for extra in self.extras for x in extra.get(key, [])]


class Streaming:
    """The hooks that move runs home: on a worker, each test report takes the runs its test
    made since its last report; at the controller, they are gathered as reports arrive."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Iterator:
        report = yield
        runs = item.stash.get(stash.TEST_RUNS, None) or []
        sent = item.stash.get(SENT, 0)
        if is_worker(self.config) and len(runs) > sent:
            from harness.core.results import Report

            cases = [entry for entry, _ in runs[sent:]]
            setattr(report, ATTRIBUTE, json.dumps(Report(environment={}, cases=cases).to_dict()))
            item.stash[SENT] = len(runs)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        raw = getattr(report, ATTRIBUTE, None)
        if raw is not None and not is_worker(self.config):
            self.config.stash.setdefault(stash.GATHERED, Gathered()).arrived(report.nodeid, raw)

    @pytest.hookimpl(optionalhook=True)  # pytest-xdist's, at the controller
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker ended: its environment and timings are kept for the one report."""
        self.config.stash.setdefault(stash.GATHERED, Gathered()).receive(node, error)
