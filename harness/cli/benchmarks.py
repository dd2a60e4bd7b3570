"""`tfjs-parity bench`: the performance figures (harness/bench.py, harness/bench_faults.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.orchestrate.orchestrator import Harness


def cmd_bench(args: argparse.Namespace) -> int:
    from harness import bench

    figures: dict[str, Any] = {}
    if args.name in ("transfer", "all"):
        with Harness(hints=False) as h:
            figures.update(bench.transfer(h, args.megabytes, args.naive_megabytes))
    if args.name in ("compare", "all"):
        figures.update(bench.compare())
    if args.name in ("isolation", "all"):
        figures.update(bench.isolation())
    if args.name in ("decode", "all"):
        figures.update(bench.decode())
    if args.name in ("memory", "all"):
        figures.update(bench.memory())
    if args.name in ("faults", "all"):
        from harness import bench_faults

        figures.update(bench_faults.faults())
    if args.name in ("model", "all"):
        figures.update(bench.model(args.backend or ("wasm", "webgl")))
        figures.update(bench.peak_rss())
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0
