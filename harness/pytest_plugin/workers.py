"""pytest-xdist: each worker runs its parity tests with browsers of its own and sends what it
gathered (its runs, environment, timings, re-recorded references) to the controller when it
ends; the controller writes the one report and prints the one parity table, with every run.
Without xdist none of this is used."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.core.results import Report

KEY = "tfjs_parity"  # in a worker's `workeroutput`, which xdist hands to the controller


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def send(config: pytest.Config, report: Report, nodeids: list[str], extra: dict[str, Any]) -> None:
    """Put this worker's report (its cases in the order of `nodeids`, the test of each) and
    `extra` (re-recorded references, kept tensors, signals) where xdist sends them home."""
    payload = {"report": report.to_dict(), "nodeids": nodeids, **extra}
    config.workeroutput[KEY] = json.dumps(payload)  # type: ignore[attr-defined]


class Gathered:
    """What the controller received from its workers, in the order they ended."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.nodeids: list[list[str]] = []
        self.extras: list[dict[str, Any]] = []
        self.lost: list[str] = []  # workers that went down without sending: why

    def receive(self, node: Any, error: object) -> None:
        """xdist's `pytest_testnodedown`: the worker's payload read back; a worker that crashed
        (or sent something unreadable) is named in `lost`, with the cause."""
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
            nodeids = payload.pop("nodeids")
        except (ValueError, KeyError, TypeError) as e:
            self.lost.append(
                f"pytest-xdist worker {name} sent a parity report that cannot be read: {e}"
            )
            return
        self.reports.append(report)
        self.nodeids.append(nodeids)
        self.extras.append(payload)
        if error is not None:
            self.lost.append(f"pytest-xdist worker {name} went down after sending ({error})")

    def runs(self) -> list[tuple[str, Any]]:
        """(test id, CaseResult) of every worker, worker by worker."""
        return [
            (nodeid, case)
            for report, nodeids in zip(self.reports, self.nodeids, strict=True)
            for nodeid, case in zip(nodeids, report.cases, strict=True)
        ]

    def collected(self, key: str) -> list[Any]:
        """`key` of every worker's extras, lists joined."""
        return [x for extra in self.extras for x in extra.get(key, [])]
