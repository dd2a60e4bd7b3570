"""What changed between two reports of the same suite (a dependency or backend upgrade, a fix):
each run matched by (pipeline, case, browser, backend, reference), each stage by name. Where a
report holds such a run more than once (pytest tests that check the same case), runs are
matched by the test that ran them too, and by their order within it."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.results import CaseResult, Report, RunResult, StageResult

# pipeline, case, browser, backend, reference; the pytest test that ran it and which of its
# runs of that key it is (0, 1, ...), where a report holds the key more than once ("", 0 else)
RunKey = tuple[str, str, str, str, str, str, int]


@dataclass(frozen=True)
class Change:
    """One difference: `worse` when something that passed no longer does (a run or a stage,
    end to end or on its own), `better` the other way, neither for a change of numbers only."""

    where: str  # "pipeline / case / browser backend [vs reference]: stage"
    text: str
    worse: bool = False
    better: bool = False


def changes(old: Report, new: Report) -> list[Change]:
    """Every run and stage whose outcome or numbers differ, worse ones first. Worse: the
    report, a run or a stage that passed and no longer does (failed, broke, was cut short, or
    is gone), and a new run that does not pass."""
    by_test = _repeats(old) or _repeats(new)
    before, after = _runs(old, by_test), _runs(new, by_test)
    found = _report_changes(old, new)
    for key in sorted(before.keys() | after.keys()):
        where = _where(key)
        if key not in after:
            was = before[key]
            found.append(Change(where, f"run gone from the new report (was {_outcome(was)})",
                                worse=was.passed))  # fmt: skip
            continue
        if key not in before:
            now = after[key]
            found.append(Change(where, f"new run: {_outcome(now)}", worse=not now.passed))
            continue
        found += _run_changes(where, before[key], after[key])
    if before and after and not before.keys() & after.keys():
        found.append(Change("the reports", "no run of the old report is in the new one"))
    return sorted(found, key=lambda c: (not c.worse, not c.better, c.where))


def _report_changes(old: Report, new: Report) -> list[Change]:
    """The report as a whole: passed, a harness error, an interruption."""
    out = []
    if old.passed != new.passed:
        out.append(
            Change(
                "the report",
                f"{'passed' if old.passed else 'did not pass'} -> "
                f"{'passed' if new.passed else 'did not pass'}",
                worse=old.passed,
                better=new.passed,
            )
        )
    for label, was, now in (
        ("harness error", old.error, new.error),
        ("interrupted", old.interrupted, new.interrupted),
    ):
        if was != now:
            out.append(Change("the report", f"{label}: {_text(was)} -> {_text(now)}"))
    reasons = {c.case: c for c in old.cases}
    for case in new.cases:
        was = reasons.get(case.case)
        if case.status != "ok" and (was is None or was.status == "ok"):
            out.append(Change(f"{case.pipeline} / {case.case}", f"case error: {case.reason}"))
    return out


def _run_changes(where: str, old: RunResult, new: RunResult) -> list[Change]:
    out = []
    if (old.passed, old.status) != (new.passed, new.status):
        out.append(
            Change(
                where,
                f"{_outcome(old)} -> {_outcome(new)}",
                worse=old.passed and not new.passed,
                better=new.passed and not old.passed,
            )
        )
    if old.first_divergence != new.first_divergence:
        out.append(
            Change(where, f"first divergence {old.first_divergence} -> {new.first_divergence}")
        )
    stages_old = {s.name: s for s in old.stages}
    stages_new = {s.name: s for s in new.stages}
    for name in [*stages_old, *(n for n in stages_new if n not in stages_old)]:
        if name not in stages_new:
            was = stages_old[name]
            passed = (was.own_verdict or was.verdict) == "pass"
            out.append(Change(f"{where}: {name}", f"stage gone (was {_verdicts(was)})",
                              worse=passed))  # fmt: skip
        elif name not in stages_old:
            out.append(Change(f"{where}: {name}", f"new stage: {_verdicts(stages_new[name])}"))
        else:
            out += _stage_changes(f"{where}: {name}", stages_old[name], stages_new[name])
    return out


def _stage_changes(where: str, old: StageResult, new: StageResult) -> list[Change]:
    out = []
    for label, was, now in (
        ("end to end", old.verdict, new.verdict),
        ("own", old.own_verdict, new.own_verdict),
    ):
        if was != now:  # None: not judged (no isolated run), neither passed nor failed
            out.append(
                Change(
                    where,
                    f"{label} {_text(was)} -> {_text(now)}",
                    worse=was == "pass" and now not in ("pass", None),
                    better=now == "pass" and was not in (None, "pass"),
                )
            )
    if old.own_error_class != new.own_error_class:
        classes = f"{_text(old.own_error_class)} -> {_text(new.own_error_class)}"
        out.append(Change(where, f"own error {classes}"))
    for label, was, now in (
        ("max |js - python| end to end", old.chained, new.chained),
        ("max |js - python| on its own", old.isolated, new.isolated),
    ):
        a = was.max_abs if was is not None else None
        b = now.max_abs if now is not None else None
        if a != b and not (a != a and b != b):  # NaN on both sides is no change
            out.append(Change(where, f"{label} {_number(a)} -> {_number(b)}"))
    return out


def _base(case: CaseResult, run: RunResult) -> tuple[str, str, str, str, str]:
    return (case.pipeline, case.case, run.browser, run.backend, run.reference)


def _repeats(report: Report) -> bool:
    """The report holds some (pipeline, case, browser, backend, reference) more than once."""
    keys = [_base(case, run) for case, run in report.all_runs()]
    return len(keys) != len(set(keys))


def _runs(report: Report, by_test: bool) -> dict[RunKey, RunResult]:
    runs: dict[RunKey, RunResult] = {}
    for case, run in report.all_runs():
        test = (case.test or "") if by_test else ""
        nth = 0
        while (*_base(case, run), test, nth) in runs:
            nth += 1
        runs[(*_base(case, run), test, nth)] = run
    return runs


def _where(key: RunKey) -> str:
    pipeline, case, browser, backend, reference, test, nth = key
    against = "" if reference == "python" else f" vs {reference}"
    by = f" ({test}{f', run {nth + 1}' if nth else ''})" if test or nth else ""
    return f"{pipeline} / {case} / {browser} {backend}{against}{by}"


def _outcome(run: RunResult) -> str:
    if run.status != "ok":
        return str(run.status).upper()
    return "PASS" if run.passed else "FAIL"


def _verdicts(stage: StageResult) -> str:
    return f"end to end {stage.verdict}, own {_text(stage.own_verdict)}"


def _text(value: object) -> str:
    """A value as the report's JSON says it, `-` for null."""
    return "-" if value is None else str(value)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def render(found: list[Change]) -> str:
    """One line per change, worse ones first, then a count."""
    if not found:
        return "no change: every run and stage is as it was"
    mark = {(True, False): "worse ", (False, True): "better", (False, False): "      "}
    lines = [f"{mark[(c.worse, c.better)]}  {c.where}: {c.text}" for c in found]
    worse = sum(c.worse for c in found)
    better = sum(c.better for c in found)
    lines.append(f"{len(found)} change(s): {worse} worse, {better} better")
    return "\n".join(lines)
