"""The terminal matrix: per pipeline, one row per (case, browser, backend), one column per stage."""

from __future__ import annotations

import math
from collections.abc import Iterable

from harness.core.results import CaseResult, Metrics, Report, RunResult, StageResult

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


LEGEND = (
    "(cells: max |js - python| end to end, mismatch share when failing; ✗ the stage's own error "
    "fails; ~ it fails end to end while its own error passes: it carries an earlier stage's "
    "error, or float drift; ! its isolated run, which judges its own error, broke)"
)


def cell(stage: StageResult) -> str:
    """✓ passes end to end; ~ fails end to end but its own (isolated) error passes: it carries
    an earlier stage's error, whatever that failure is (values, NaN, shape); ✗ fails on its
    own (or has no own run to tell); ! its isolated run broke (a harness error, e.g. the page
    lost its GPU there), so its own error is not known."""
    if stage.verdict == "not_run":
        return "·"
    inherited = stage.verdict == "fail" and stage.own_verdict == "pass"
    broke = stage.own_verdict == "error" and stage.verdict != "error"
    mark = "!" if broke else "✓" if stage.verdict == "pass" else "~" if inherited else "✗"
    if stage.parts:  # several tensors: the worst of them, and how many
        parts = [s for s in stage.layers if s.name in stage.parts.values()]
        if parts:
            worst = max(parts, key=_badness)
            return f"{mark}{cell(worst)[1:]} ({len(stage.parts)} tensors)"
    m = stage.chained
    if m is None:  # shape/dtype mismatch or a runtime failure at this stage
        message = stage.message or ""
        kind = (
            "shape"
            if "shape" in message
            else "dtype"
            if "dtype" in message
            else "one side"
            if "tapped in" in message
            else "error"
        )
        return f"{mark} {kind}"
    if m.nonfinite_mismatched:  # the first NaN/Inf disagreement is the finding
        ref, cand = m.nonfinite_reference, m.nonfinite_candidate
        if _finite(ref):
            what = f"js {_nonfinite_text(cand)}"
        elif _finite(cand):
            what = f"python {_nonfinite_text(ref)}"
        else:
            what = f"js {_nonfinite_text(cand)} vs {_nonfinite_text(ref)}"
        index = ",".join(str(i) for i in m.nonfinite_index)
        return f"{mark} {what} at [{index}]"
    text = f"{mark} 0" if m.max_abs == 0 else f"{mark} {m.max_abs:.1e}"
    if stage.verdict == "fail":
        share = m.mismatch_fraction
        text += f" {share:.1%}" if share < 0.1 else f" {share:.0%}"
    return text


def _badness(stage: StageResult) -> tuple[int, float]:
    order = ("pass", "not_run", "fail", "error")
    size = stage.chained.max_abs if stage.chained else None
    return order.index(stage.verdict) if stage.verdict in order else 0, size or 0.0


def _finite(value: float | str | None) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _nonfinite_text(value: float | str | None) -> str:
    """NaN, Inf or -Inf (report.json keeps them as strings, the result objects as floats)."""
    text = str(value).lower()
    return "NaN" if "nan" in text else "-Inf" if text.startswith("-") else "Inf"


def outcome(run: RunResult) -> str:
    if run.status == "skipped":
        return f"SKIPPED: {run.reason}"
    if run.status == "error":
        return f"ERROR: {run.reason}"
    unjudged = (
        f"; not judged, no own run to tell them from what they inherit: {', '.join(run.unjudged)}"
        if run.unjudged
        else ""
    )
    if run.passed:
        notes = [_as_declared(run, s) for s in run.stages if s.name in run.expected]
        if notes:
            notes[0] = "diverges as declared: " + notes[0]
        drift = drift_text(run)
        notes += [drift] if drift else []
        notes += partial_coverage(run)
        return f"PASS ({'; '.join(notes)}{unjudged})" if notes else "PASS"
    problems = []
    if run.unexpected:
        happened = [s for s in run.stages if s.name in run.expected and s.verdict == "fail"]
        besides = " (besides the declared divergence)" if happened else ""
        problems.append(f"first divergence at {_label(run, run.unexpected[0])}{besides}")
    problems += run.unmet
    problems += run.below_coverage
    return "FAIL: " + "; ".join(problems) + unjudged


def partial_coverage(run: RunResult) -> list[str]:
    """'model: 1 of 21 nodes compared (20 not: ...)' for each model stage not fully compared."""
    out = []
    for stage in run.stages:
        c = stage.coverage
        if c and c["compared"] < c["total"]:
            reasons = sorted(set(c["not_compared"].values()))
            out.append(
                f"{stage.name}: {c['compared']} of {c['total']} {c['kind']} compared, "
                f"{c['total'] - c['compared']} not: {reasons[0]}"
                + (f" (and {len(reasons) - 1} other reason(s))" if len(reasons) > 1 else "")
            )
    return out


def drift_text(run: RunResult) -> str | None:
    """For a run whose stages each pass on their own while some fail end to end (before any
    declared divergence): 'float32 drift only: output off by X after N stages, growing from S'."""
    flat: list[tuple[str, StageResult]] = []
    for stage in run.stages:
        if stage.name in run.expected:
            break
        flat += [(f"{stage.name}/{layer.name}", layer) for layer in stage.layers]
        flat.append((stage.name, stage))
    compared = [(n, s) for n, s in flat if s.chained is not None and n != "input"]
    drifting = [(n, s) for n, s in compared if s.verdict == "fail" and s.own_verdict == "pass"]
    if not drifting:
        return None
    kinds = {s.own_error_class for _, s in compared}
    kind = "float16" if "float16" in kinds else "float32"
    return (
        f"{kind} drift only: output off by {_output_error(run):.2g} after "
        f"{len(compared)} stages, growing from {_label(run, drifting[0][0])}"
    )


def _output_error(run: RunResult) -> float:
    """The greatest |js - python| of the run's output: the last stage, or for a stage of
    several tensors (a model's outputs) the worst of them."""
    for stage in reversed(run.stages):
        parts = [s for s in stage.layers if stage.parts and s.name in stage.parts.values()]
        values = [s.chained.max_abs for s in parts or [stage] if s.chained is not None]
        if values:
            return max(values)
    return 0.0


def _as_declared(run: RunResult, stage: StageResult) -> str:
    own = stage.isolated if stage.own_verdict is not None else stage.chained
    bound = run.expected[stage.name]["max_abs"]
    kind = f"{stage.own_error_class} " if stage.own_error_class else ""
    size = f"{own.max_abs:.2g}" if own else "?"
    return f"{stage.name} {kind}{size} <= {bound:g}"


def _label(run: RunResult, name: str) -> str:
    """`stage`, or `stage/layer (LayerClass)` for a model's layer."""
    layer = _stage(run, name) if "/" in name else None
    return name + (f" ({layer.op})" if layer is not None and layer.op else "")


def divergence_name(run: RunResult) -> str:
    """`stage`, or `stage/layer (LayerClass)` when a model's layer is where it starts."""
    return _label(run, _flat_name(run)) if run.first_divergence else "-"


def first_divergent(run: RunResult) -> tuple[StageResult | None, StageResult | None]:
    """The first divergent stage, and within a model stage its first divergent layer."""
    stage = next((s for s in run.stages if s.name == run.first_divergence), None)
    if stage is None or run.first_divergent_layer is None:
        return stage, None
    return stage, next((s for s in stage.layers if s.name == run.first_divergent_layer), None)


def render(report: Report) -> str:
    lines: list[str] = []
    for pipeline, entries in group_by_pipeline(report).items():
        stages = stage_names(entries)
        header = ["case", "browser", "backend", *stages, "result"]
        rows = []
        for c in entries:
            if c.status != "ok":
                rows.append([c.case, "-", "-", *["" for _ in stages], f"ERROR: {c.reason}"])
            for r in c.runs:
                by_name = {s.name: s for s in r.stages}
                cells = [cell(by_name[s]) if s in by_name else "" for s in stages]
                rows.append([c.case, r.browser, r.backend, *cells, outcome(r)])
        lines.append(f"pipeline {pipeline}   {LEGEND}")
        if pipeline in report.pipelines:
            lines.append(f"  ({report.pipelines[pipeline]})")
        if note := reference_note(entries):
            lines.append(f"  {note}")
        lines.extend(_table(header, rows))
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
    lines.append(timing_line(report.timings))
    if "peak_rss_mb" in report.resources:
        lines.append(
            f"peak memory of the harness process: {report.resources['peak_rss_mb']:.0f} MB"
        )
    return "\n".join(lines)


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


def explain(run: RunResult) -> str:
    """One run in full: per stage its end-to-end and own error, the class, the tolerance; then
    the first divergence's message (torch.testing style), minimum passing tolerance and hints."""
    lines = [f"{run.browser} {run.backend}: {outcome(run)}"]
    rows = []
    for s in run.stages:
        rows.append(
            [
                s.name,
                _verdict(s.verdict, s.chained),
                _verdict(s.own_verdict, s.isolated) if s.own_verdict else "-",
                s.own_error_class or "-",
                _judged_by(s),
            ]
        )
    header = ["stage", "end to end", "own (isolated)", "own error", "own error judged by"]
    lines += ["  " + r for r in _table(header, rows)]
    stage, layer = first_divergent(run)
    first = layer or stage
    if first is not None:
        lines.append(f"  first divergence: {divergence_name(run)}")
        if layer is not None:
            lines.append(
                f"    layer end to end {_verdict(layer.verdict, layer.chained)}, own (isolated) "
                f"{_verdict(layer.own_verdict, layer.isolated) if layer.own_verdict else '-'}, "
                f"own error {layer.own_error_class or '-'}"
            )
        detail = first.isolated_message or first.message
        if detail:
            lines.append(f"    {detail}")
        lines += [f"    hint: {h['text']}" for h in first.hints]
    if run.deterministic is not None:
        same = "bitwise identical" if run.deterministic else f"differ by {run.repeat_max_abs:.3g}"
        lines.append(f"  two runs: {same}")
    return "\n".join(lines)


def _verdict(verdict: str | None, metrics: Metrics | None) -> str:
    if metrics is None:
        return verdict or "-"
    text = f"{verdict} {metrics.max_abs:.2g}"
    return text + (f" ({metrics.mismatch_fraction:.1%})" if verdict == "fail" else "")


def _judged_by(stage: StageResult) -> str:
    """The float budget (with own error / budget), the layers, or the tolerance policy."""
    b = stage.budget
    if b is None:
        return _tolerance(stage.tolerance)
    if b.get("ratio") is None:
        return b["basis"]
    text = f"float32 budget: {b['ratio']:.2g}x"
    if b.get("ratio_float16") is not None:
        text += f", float16 budget: {b['ratio_float16']:.2g}x"
    return text + (" (estimated)" if b.get("estimated") else "")


def _tolerance(t: dict | None) -> str:
    if not t:
        return "-"
    text = f"atol {t['atol']:g} rtol {t['rtol']:g}"
    if t.get("ulp") is not None:
        text += f" ulp {t['ulp']}"
    if t.get("statistic", "elementwise") != "elementwise":
        text += f" {t['statistic']}"
    if t.get("mismatch_fraction"):
        text += f" allow {t['mismatch_fraction']:.2%}"
    return text


def findings(entries: Iterable[CaseResult]) -> list[str]:
    """Where each run first diverges and the hint, one line per finding shared by backends."""
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    for c in entries:
        for r in c.runs:
            stage, layer = first_divergent(r)
            found = [(divergence_name(r), layer or stage)]
            if r.unexpected and r.unexpected[0] != _flat_name(r):  # a fault after a declared one
                found.append((_label(r, r.unexpected[0]), _stage(r, r.unexpected[0])))
            for label, where in found:
                if where is None:
                    continue
                hint = (
                    where.hints[0]["text"]
                    if where.hints
                    else (where.isolated_message or where.message or "")
                )
                kind = where.own_error_class or "end to end only: no own run"
                key = (c.case, label, kind, hint)
                grouped.setdefault(key, []).append(r.backend)
    return [
        f"  {case} [{', '.join(backends)}] {stage} ({kind}): {hint}"
        for (case, stage, kind, hint), backends in grouped.items()
    ]


def _flat_name(run: RunResult) -> str | None:
    if run.first_divergent_layer:
        return f"{run.first_divergence}/{run.first_divergent_layer}"
    return run.first_divergence


def _stage(run: RunResult, name: str) -> StageResult | None:
    owner, sep, part = name.partition("/")
    stage = next((s for s in run.stages if s.name == owner), None)
    if sep and stage is not None:
        return next((x for x in stage.layers if x.name == part), None)
    return stage


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
    text = "time (summed over the pages working in parallel): " + ", ".join(parts)
    return text + (f"; wall {total:.2f}s" if total else "")


def group_by_pipeline(report: Report) -> dict[str, list[CaseResult]]:
    groups: dict[str, list[CaseResult]] = {}
    for c in report.cases:
        groups.setdefault(c.pipeline, []).append(c)
    return groups


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


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    widths[-1] = len(header[-1])  # the result column is free text: do not pad the table for it

    def fmt(row: list[str]) -> str:
        return "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]
