"""How one run and one stage read in words: a matrix cell, a run's outcome, the first
divergence, and the per-stage explanation a failing parity test prints."""

from __future__ import annotations

import math

from harness.core.results import Metrics, RunResult, StageResult
from harness.report.against_python import against_python_line

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
        problems.append(f"first divergence at {stage_label(run, run.unexpected[0])}{besides}")
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
        f"{len(compared)} stages, growing from {stage_label(run, drifting[0][0])}"
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


def stage_label(run: RunResult, name: str) -> str:
    """`stage`, or `stage/layer (LayerClass)` for a model's layer."""
    layer = stage_of(run, name) if "/" in name else None
    return name + (f" ({layer.op})" if layer is not None and layer.op else "")


def divergence_name(run: RunResult) -> str:
    """`stage`, or `stage/layer (LayerClass)` when a model's layer is where it starts."""
    return stage_label(run, flat_name(run)) if run.first_divergence else "-"


def first_divergent(run: RunResult) -> tuple[StageResult | None, StageResult | None]:
    """The first divergent stage, and within a model stage its first divergent layer."""
    stage = next((s for s in run.stages if s.name == run.first_divergence), None)
    if stage is None or run.first_divergent_layer is None:
        return stage, None
    return stage, next((s for s in stage.layers if s.name == run.first_divergent_layer), None)


def explain(run: RunResult) -> str:
    """One run in full: per stage its end-to-end and own error, the class, the tolerance; then
    the first divergence's message (torch.testing style), minimum passing tolerance and hints."""
    lines = [f"{run.browser} {run.backend}: {outcome(run)}"]
    if run.reference != "python":
        lines.append(
            f"  compared with {run.reference}, not Python: 'python' below is that page, "
            "'js' this one"
        )
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
    lines += ["  " + r for r in table(header, rows)]
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
        if arbiter := against_python_line(run):
            lines.append(f"    {arbiter}")
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


def flat_name(run: RunResult) -> str | None:
    if run.first_divergent_layer:
        return f"{run.first_divergence}/{run.first_divergent_layer}"
    return run.first_divergence


def stage_of(run: RunResult, name: str) -> StageResult | None:
    owner, sep, part = name.partition("/")
    stage = next((s for s in run.stages if s.name == owner), None)
    if sep and stage is not None:
        return next((x for x in stage.layers if x.name == part), None)
    return stage


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    widths[-1] = len(header[-1])  # the result column is free text: do not pad the table for it

    def fmt(row: list[str]) -> str:
        return "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]
