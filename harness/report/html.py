"""report.html: the backend x stage matrix as one self-contained page, readable at a glance.

Green: the stage passed; red: it failed (hover for the torch.testing-style message); grey: not
run. Reads only the Report, like every writer.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from harness.core.results import CaseResult, Report, StageResult
from harness.report.terminal import (
    findings,
    group_by_pipeline,
    reference_line,
    reference_note,
    rows_by_browser,
    stage_names,
    summary,
)
from harness.report.wording import LEGEND, cell, outcome

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; white-space: nowrap; }
td.pass { background: #dff5e1; } td.fail { background: #fadbd8; } td.not_run { color: #999; }
td.inherited { background: #fcf3cf; }
td.result { white-space: normal; max-width: 40em; }
pre { background: #f6f6f6; padding: 1em; overflow: auto; }
"""


def render(report: Report) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>tfjs-parity report</title>",
        f"<style>{STYLE}</style></head><body><h1>tfjs-parity report</h1>",
        f"<p>{e(summary(report))}. {e(LEGEND.strip('()'))}; hover for details.</p>",
    ]
    if line := reference_line(report):
        parts.append(f"<p>{e(line)}</p>")
    for pipeline, entries in group_by_pipeline(report).items():
        stages = stage_names(entries)
        head = "".join(f"<th>{e(s)}</th>" for s in ["case", "browser", "backend", *stages])
        parts.append(f"<h2>pipeline {e(pipeline)}</h2>")
        if note := reference_note(entries):
            parts.append(f"<p>{e(note)}</p>")
        parts.append(f"<table><tr>{head}<th>result</th></tr>")
        for c, r in rows_by_browser(entries):
            if r is None:
                parts.append(
                    f"<tr><td>{e(c.case)}</td><td colspan='{len(stages) + 2}'></td>"
                    f"<td class='result fail'>ERROR: {e(c.reason or '')}</td></tr>"
                )
                continue
            by_name = {s.name: s for s in r.stages}
            cells = "".join(_stage_cell(by_name.get(s)) for s in stages)
            result_class = "pass" if r.passed else "fail"
            parts.append(
                f"<tr><td>{e(c.case)}</td><td>{e(r.browser)}</td><td>{e(r.backend)}</td>"
                f"{cells}<td class='result {result_class}'>{e(outcome(r))}</td></tr>"
            )
        parts.append("</table>")
        parts.extend(_layer_tables(entries))
        parts.extend(_kept_tensors(entries))
        found = findings(entries)
        if found:
            items = "".join(f"<li>{e(line.strip())}</li>" for line in found)
            parts.append(f"<p>First divergences and hints:</p><ul>{items}</ul>")
    environment = json.dumps(report.environment, indent=2, default=str)
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items())
    parts.append(f"<h2>time</h2><p>{e(timings)}</p>")
    parts.append(f"<h2>environment</h2><pre>{e(environment)}</pre></body></html>")
    return "\n".join(parts)


def _layer_tables(entries: list[CaseResult]) -> list[str]:
    """Per run with a model stage, its layers (or graph nodes) in order, folded away: end to
    end and own (isolated) error, each cell coloured like the matrix; opened when one fails."""
    e = html.escape
    parts = []
    for c in entries:
        for r in c.runs:
            for stage in (s for s in r.stages if s.layers):
                failing = sum(1 for layer in stage.layers if layer.verdict == "fail")
                where = (
                    f" (first divergent: {e(r.first_divergent_layer)})"
                    if (r.first_divergent_layer and r.first_divergence == stage.name)
                    else ""
                )
                rows = "".join(
                    f"<tr><td>{e(layer.name)}</td><td>{e(layer.op or '')}</td>"
                    f"{_stage_cell(layer)}{_own_cell(layer)}"
                    f"<td>{e(layer.own_error_class or '-')}</td></tr>"
                    for layer in stage.layers
                )
                parts.append(
                    f"<details{' open' if failing else ''}><summary>{e(c.case)} {e(r.browser)} "
                    f"{e(r.backend)}: {e(stage.name)}, {len(stage.layers)} layers, {failing} "
                    f"failing end to end{where}</summary><table><tr><th>layer</th><th>op</th>"
                    f"<th>end to end</th><th>own (isolated)</th><th>own error</th></tr>"
                    f"{rows}</table></details>"
                )
    return parts


def _own_cell(stage: StageResult) -> str:
    if stage.isolated is None:
        return "<td class='not_run'>-</td>"
    title = html.escape(stage.isolated_message or "", quote=True)
    text = f"{stage.isolated.max_abs:.1e}" if stage.isolated.max_abs else "0"
    return f"<td class='{stage.own_verdict}' title='{title}'>{html.escape(text)}</td>"


def _stage_cell(stage: StageResult | None) -> str:
    if stage is None:
        return "<td></td>"
    title = html.escape(stage.message or "", quote=True)
    inherited = stage.verdict == "fail" and stage.own_verdict == "pass"
    kind = "inherited" if inherited else stage.verdict
    return f"<td class='{kind}' title='{title}'>{html.escape(cell(stage))}</td>"


def write(report: Report, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    path.write_text(render(report))
    return path


def _kept_tensors(entries: list[CaseResult]) -> list[str]:
    """Links to the arrays kept beside the report (--keep-tensors), per run and stage."""
    e = html.escape
    items = []
    for c in entries:
        for r in c.runs:
            for s in r.stages:
                for name, kept in [
                    (s.name, s.tensors),
                    *((f"{s.name}/{la.name}", la.tensors) for la in s.layers),
                ]:
                    if not kept:
                        continue
                    if "not_kept" in kept:
                        links = e(f"not kept: {kept['not_kept']}")
                    else:
                        links = ", ".join(
                            f"<a href='{e(p)}'>{e(role)}</a>" for role, p in kept.items()
                        )
                    page = e(f"{r.browser} {r.backend}")
                    items.append(f"<li>{e(c.case)} / {page} / {e(name)}: {links}</li>")
    return [f"<p>Arrays kept (.npy, numpy.load):</p><ul>{''.join(items)}</ul>"] if items else []
