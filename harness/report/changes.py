"""What changed between two reports of the same suite (a dependency or backend upgrade, a fix):
each run matched by (pipeline, case, browser, backend, reference), each stage by name. Where a
report holds such a run more than once (pytest tests that check the same case), runs are
matched by the test that ran them too, and by their order within it (`_pairs`)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.results import Report, RunResult, StageResult

# pipeline, case, browser, backend, reference; the pytest test that ran it and which of its
# runs of those it is (0, 1, ...), where a report holds them more than once ("", 0 else)
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
    found = _report_changes(old, new)
    matched = False
    for key, was, now in _pairs(old, new):
        where = _where(key)
        if now is None:
            assert was is not None
            found.append(Change(where, f"run gone from the new report (was {_outcome(was)})",
                                worse=was.passed))  # fmt: skip
        elif was is None:
            found.append(Change(where, f"new run: {_outcome(now)}", worse=not now.passed))
        else:
            matched = True
            found += _run_changes(where, was, now)
    if old.all_runs() and new.all_runs() and not matched:
        found.append(Change("the reports", "no run of the old report is in the new one"))
    return sorted(found, key=lambda c: (not c.worse, not c.better, c.where))


def _pairs(old: Report, new: Report) -> list[tuple[RunKey, RunResult | None, RunResult | None]]:
    """The runs of the two reports matched by (pipeline, case, browser, backend, reference).
    Where a report holds such a run more than once (pytest tests that check the same case),
    they are matched by test and by order within it; a run the other report holds once and
    from the command line (no test) is matched with each of them."""
    before, after = _grouped(old), _grouped(new)
    out: list[tuple[RunKey, RunResult | None, RunResult | None]] = []
    for base in sorted(before.keys() | after.keys()):
        was, now = before.get(base, []), after.get(base, [])
        if len(was) <= 1 and len(now) <= 1:
            out.append(((*base, "", 0), *(_only(was), _only(now))))
        elif len(was) == 1 and was[0][0] is None:  # the command line's run, against each
            out += [((*base, test, nth), was[0][2], run) for test, nth, run in now]
        elif len(now) == 1 and now[0][0] is None:
            out += [((*base, test, nth), run, now[0][2]) for test, nth, run in was]
        else:
            olds = {(test or "", nth): run for test, nth, run in was}
            news = {(test or "", nth): run for test, nth, run in now}
            out += [
                ((*base, *k), olds.get(k), news.get(k)) for k in sorted(olds.keys() | news.keys())
            ]
    return out


def _only(runs: list[tuple[str | None, int, RunResult]]) -> RunResult | None:
    return runs[0][2] if runs else None


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


def _grouped(
    report: Report,
) -> dict[tuple[str, str, str, str, str], list[tuple[str | None, int, RunResult]]]:
    """Runs by (pipeline, case, browser, backend, reference): (test, which of that test's
    runs of it, run)."""
    grouped: dict[tuple[str, str, str, str, str], list[tuple[str | None, int, RunResult]]] = {}
    for case, run in report.all_runs():
        base = (case.pipeline, case.case, run.browser, run.backend, run.reference)
        runs = grouped.setdefault(base, [])
        nth = sum(1 for test, _, _ in runs if test == case.test)
        runs.append((case.test, nth, run))
    return grouped


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
