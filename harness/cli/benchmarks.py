"""`tfjs-parity bench`: the performance figures (harness/bench/, one module per benchmark)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.orchestrate.orchestrator import Harness


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench import decode, memory, model, pages

    figures: dict[str, Any] = {}
    if args.name in ("transfer", "all"):
        with Harness(hints=False) as h:
            figures.update(pages.transfer(h, args.megabytes, args.naive_megabytes))
    if args.name in ("compare", "all"):
        figures.update(pages.compare())
    if args.name in ("isolation", "all"):
        figures.update(pages.isolation())
    if args.name in ("decode", "all"):
        figures.update(decode.decode())
    if args.name in ("memory", "all"):
        figures.update(memory.memory())
    if args.name in ("faults", "all"):
        from harness.bench import faults

        figures.update(faults.faults())
    if args.name in ("replay", "all"):
        from harness.bench import replay

        figures.update(replay.replay())
    if args.name in ("xdist", "all"):
        from harness.bench import xdist

        figures.update(xdist.xdist())
    if args.name in ("model", "all"):
        figures.update(model.model(args.backend or ("wasm", "webgl")))
        figures.update(model.peak_rss())
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0
