"""`tfjs-parity repro REPORT_DIR --case C --stage S [--backend B]`: one failing stage of a
report as a folder to attach to an upstream bug report (report/repro.py)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from harness.report import json_report
from harness.report.repro import choose, write_pack


def add_repro(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    repro = sub.add_parser(
        "repro",
        help="write a repro pack of one stage of a report: its input (.npy), a standalone page "
        "running just that TF.js step, the Python that gives the reference, a README with the "
        "numbers",
    )
    repro.add_argument("report", type=Path, help="a report folder (or its report.json)")
    repro.add_argument("--case", required=True, help="the case, as the report names it")
    repro.add_argument("--stage", required=True, help="the stage, as the report names it")
    repro.add_argument("--backend", help="the run's backend variant (needed when several kept it)")
    repro.add_argument("--browser", help="the run's browser (needed when several kept it)")
    repro.add_argument("--pipeline", help="the run's pipeline (needed when several kept it)")
    repro.add_argument(
        "--out", type=Path, help="the pack's folder (default: REPORT_DIR/repro/CASE-STAGE-BACKEND)"
    )
    repro.set_defaults(func=cmd_repro)


def cmd_repro(args: argparse.Namespace) -> int:
    file, report = json_report.read(args.report)
    run, stage = choose(report, args.case, args.stage, args.backend, args.pipeline, args.browser)
    pipeline = next(c.pipeline for c in report.cases if run in c.runs)
    page = run.backend if run.browser == "chromium" else f"{run.browser}-{run.backend}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{pipeline}-{args.case}-{stage}-{page}")
    out = args.out or file.parent / "repro" / name
    try:
        write_pack(file.parent, report, run, stage, out)
    except OSError as e:
        raise ValueError(f"--out {out}: cannot write the pack there ({e.strerror})") from None
    print(f"repro pack of {pipeline} / {args.case} / {stage} on {run.browser} {run.backend}: {out}")
    print(f"  serve it (python3 -m http.server -d {out}) and open repro.html; README.md says more")
    return 0
