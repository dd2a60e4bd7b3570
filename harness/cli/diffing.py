"""`tfjs-parity diff OLD NEW`: which runs and stages got better or worse between two reports."""

from __future__ import annotations

import argparse

from harness.report import changes, json_report


def cmd_diff(args: argparse.Namespace) -> int:
    """0 when nothing got worse, 1 when something that passed no longer does; ValueError (exit
    2) for a path with no readable `tfjs-parity/1` report."""
    (_, old), (_, new) = (json_report.read(p) for p in (args.old, args.new))
    found = changes.changes(old, new)
    print(changes.render(found))
    sides = [r.environment.get("reference", {}).get("line") for r in (old, new)]
    if sides[0] != sides[1]:  # what each was compared with is part of what changed
        print(f"reference: old {sides[0] or 'not said'}; new {sides[1] or 'not said'}")
    return 1 if any(c.worse for c in found) else 0
