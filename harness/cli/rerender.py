"""`tfjs-parity report PATH`: a report read back from its report.json and shown again (the
terminal matrix) and report.html written again, with nothing re-run."""

from __future__ import annotations

import argparse

from harness.cli.argtypes import check_writable
from harness.report import html, json_report, terminal


def cmd_report(args: argparse.Namespace) -> int:
    """0 when the report passed, 1 when it did not; ValueError (a usage error, exit 2) for a
    path with no report.json, a file that is not JSON, or a report that is not `tfjs-parity/1`
    (naming the JSON path of the first wrong value)."""
    path, report = json_report.read(args.path)  # JsonFileError, ValueError: said, exit 2
    out = args.out or path.parent
    check_writable(out)  # ValueError naming the folder: exit 2, said before anything is written
    page = html.write(report, out)
    print(terminal.render(report))
    print(f"report: {path} (re-rendered: {page})")
    return 0 if report.passed else 1
