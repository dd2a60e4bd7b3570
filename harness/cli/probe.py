"""`tfjs-parity probe`: what each browser and backend variant can do here."""

from __future__ import annotations

import argparse
import json

from harness.cli.remote import endpoints
from harness.orchestrate.orchestrator import Harness
from harness.runtimes.driver import BrowserUnavailable
from harness.specs.variants import KNOWN_VARIANTS


def cmd_probe(args: argparse.Namespace) -> int:
    variants = args.backend or list(KNOWN_VARIANTS)
    out: dict[str, dict] = {}
    browsers = args.browser or ["chromium"]
    with Harness(endpoints=endpoints(args, browsers)) as h:
        for browser in browsers:
            try:
                session = h.session(browser)
            except BrowserUnavailable as e:
                out[browser] = {"version": None, "error": str(e), "backends": {}}
                print(f"{browser}: unavailable: {e}")
                continue
            for v in variants:
                session.probe(v)
        out = h.environment()["browsers"]
    for browser, entry in out.items():
        print(f"{browser} {entry.get('version') or ''}")
        for v, info in entry["backends"].items():
            detail = {
                k: info[k]
                for k in (
                    "active",
                    "precision",
                    "webgl_version",
                    "float32_render_capable",
                    "renderer",
                    "simd",
                    "threads",
                    "adapter",
                )
                if info.get(k) is not None
            }
            line = f"  {v:22} {info['status']:6} " + " ".join(
                f"{k}={v2}" for k, v2 in detail.items()
            )
            print(line + (f"  reason: {info['reason']}" if info["reason"] else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"browsers": out}, indent=2) + "\n")
    return 0
