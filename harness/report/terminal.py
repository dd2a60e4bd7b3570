"""The terminal matrix: per pipeline, one row per (case, browser, backend), one column per stage."""

from __future__ import annotations

from collections.abc import Iterable

from harness.core.results import CaseResult, Report, RunResult
from harness.report.against_python import against_python_line
from harness.report.wording import (
    LEGEND,
    cell,
    divergence_name,
    first_divergent,
    flat_name,
    outcome,
    stage_label,
    stage_of,
    table,
)

PHASES = (
    "tf_import",
    "python_reference",
    "page_reference",
    "browser_start",
    "backend_init",
    "compute",
    "transfer",
    "compare",
)


def render(report: Report) -> str:
    lines: list[str] = []
    for pipeline, entries in group_by_pipeline(report).items():
        stages = stage_names(entries)
        header = ["case", "browser", "backend", *stages, "result"]
        rows = []
        for c, r in rows_by_browser(entries):
            if r is None:
                rows.append([c.case, "-", "-", *["" for _ in stages], f"ERROR: {c.reason}"])
                continue
            by_name = {s.name: s for s in r.stages}
            cells = [cell(by_name[s]) if s in by_name else "" for s in stages]
            rows.append([c.case, r.browser, r.backend, *cells, outcome(r)])
        lines.append(f"pipeline {pipeline}   {LEGEND}")
        if pipeline in report.pipelines:
            lines.append(f"  ({report.pipelines[pipeline]})")
        if note := reference_note(entries):
            lines.append(f"  {note}")
        lines.extend(table(header, rows))
        found = findings(entries)
        if found:
            lines.append("first divergences:")
            lines.extend(found)
        lines.append("")
    for m in report.model_outputs():
        lines.append(
            f"model {m['pipeline']}/{m['stage']} on {m['browser']} {m['backend']}, "
            f"{m['rows']} image(s): top-1 agreement {m['top1_agreement']:.0%}, "
            + (f"top-5 {m['top5_agreement']:.0%}, " if m["top5_agreement"] is not None else "")
            + f"max |prob diff| {m['max_abs_prob']:.2g}, "
            f"worst logits cosine {m['logits_cosine']:.6f}"
        )
    lines.append(summary(report))
    if line := reference_line(report):
        lines.append(line)
    lines.append(timing_line(report.timings))
    if "peak_rss_mb" in report.resources:
        lines.append(
            f"peak memory of the harness process: {report.resources['peak_rss_mb']:.0f} MB"
        )
    return "\n".join(lines)


def reference_line(report: Report) -> str | None:
    """'reference: recorded 2026-12-01 on GPU:0 (...), TF 2.19.0 (store ...)': where the
    Python side's outputs came from (report.json's environment.reference)."""
    reference = report.environment.get("reference")
    if not isinstance(reference, dict) or not reference.get("line"):
        return None
    return f"reference: {reference['line']}"


def reference_note(entries: Iterable[CaseResult]) -> str | None:
    """What the runs were compared with, when it is not Python (backend vs backend)."""
    pages = sorted({r.reference for c in entries for r in c.runs} - {"python"})
    if not pages:
        return None
    return (
        f"compared with {', '.join(pages)}, not Python: 'python' in the cells and messages is "
        "that page; no hints (they explain JS against Python's ops), declared divergences "
        "not applied"
    )


def findings(entries: Iterable[CaseResult]) -> list[str]:
    """Where each run first diverges and the hint, one line per finding shared by backends."""
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    entries = list(entries)
    several = len({r.browser for c in entries for r in c.runs}) > 1  # then each names its browser
    for c in entries:
        for r in c.runs:
            stage, layer = first_divergent(r)
            found = [(divergence_name(r), layer or stage)]
            if r.unexpected and r.unexpected[0] != flat_name(r):  # a fault after a declared one
                found.append((stage_label(r, r.unexpected[0]), stage_of(r, r.unexpected[0])))
            for label, where in found:
                if where is None:
                    continue
                hint = (
                    where.hints[0]["text"]
                    if where.hints
                    else (where.isolated_message or where.message or "")
                )
                kind = where.own_error_class or "end to end only: no own run"
                if where is (layer or stage) and (arbiter := against_python_line(r)):
                    hint += f"\n    {arbiter}"  # two pages: which one Python agrees with
                key = (c.case, label, kind, hint)
                grouped.setdefault(key, []).append(page_name(r, several))
    return [
        f"  {case} [{', '.join(backends)}] {stage} ({kind}): {hint}"
        for (case, stage, kind, hint), backends in grouped.items()
    ]


def page_name(run: RunResult, with_browser: bool) -> str:
    """`wasm`, or `firefox wasm` where the runs shown together are on several browsers."""
    return f"{run.browser} {run.backend}" if with_browser else run.backend


def summary(report: Report) -> str:
    runs = [r for _, r in report.all_runs()]
    counts = {
        k: sum(1 for r in runs if _bucket(r) == k) for k in ("passed", "failed", "error", "skipped")
    }
    cut = sum(1 for c in report.cases if (c.reason or "").startswith("interrupted"))
    unstarted = sum(1 for c in report.cases if (c.reason or "").startswith("not started"))
    case_errors = sum(1 for c in report.cases if c.status != "ok") - cut - unstarted
    text = ", ".join(f"{v} {k}" for k, v in counts.items())
    if case_errors:
        text += f", {case_errors} case(s) could not be loaded"
    if cut:
        text += f", {cut} case(s) cut short"
    if unstarted:
        text += f", {unstarted} not started"
    if report.interrupted:
        text += f"; interrupted by {report.interrupted}: the runs that finished are kept"
    elif report.error:
        text += f"; the harness stopped: {report.error}"
    elif not any(_bucket(r) in ("passed", "failed") for r in runs):
        text += "; no run passed or failed (each is an error or skipped), so nothing passed"
    return f"runs: {text}"


def _bucket(run: RunResult) -> str:
    if run.status in ("error", "skipped"):
        return run.status
    return "passed" if run.passed else "failed"


def timing_line(timings: dict[str, float]) -> str:
    parts = [f"{k} {timings[k]:.2f}s" for k in PHASES if timings.get(k)]
    parts += [f"{k} {v:.2f}s" for k, v in timings.items() if k not in PHASES and k != "total"]
    total = timings.get("total")
    if not parts and not total:  # a session cut short before any worker said its timings
        return "time: not measured (the session ended before its processes said)"
    text = "time (summed over the pages working in parallel): " + ", ".join(parts)
    return text + (f"; wall {total:.2f}s" if total else "")


def group_by_pipeline(report: Report) -> dict[str, list[CaseResult]]:
    groups: dict[str, list[CaseResult]] = {}
    for c in report.cases:
        groups.setdefault(c.pipeline, []).append(c)
    return groups


def rows_by_browser(entries: list[CaseResult]) -> list[tuple[CaseResult, RunResult | None]]:
    """A pipeline's table rows grouped by browser (in the order browsers first appear), then
    by case and backend in run order; a case that could not run (no runs) first, as
    (case, None)."""
    browsers = list(dict.fromkeys(r.browser for c in entries for r in c.runs))
    rows: list[tuple[CaseResult, RunResult | None]] = [
        (c, None) for c in entries if c.status != "ok"
    ]
    for browser in browsers:
        rows += [(c, r) for c in entries for r in c.runs if r.browser == browser]
    return rows


def stage_names(entries: Iterable[CaseResult]) -> list[str]:
    """Stage columns in pipeline order, across every run shown together. A model's layers
    ("model/<layer>") get no column of their own: the model's column and the findings speak
    for them, report.json has each."""
    names: list[str] = []
    for c in entries:
        for r in c.runs:
            for s in r.stages:
                if "/" not in s.name and s.name not in names:
                    names.append(s.name)
    return names
