"""`tfjs-parity probe`: what each browser and backend variant can do here. Exit 1 when a
browser asked for cannot start (said, and in --json), else 0."""

from __future__ import annotations

import argparse
import json

from harness.cli.remote import endpoints
from harness.orchestrate.orchestrator import Harness
from harness.runtimes.driver import BrowserUnavailable, PageError
from harness.specs.variants import KNOWN_VARIANTS


def cmd_probe(args: argparse.Namespace) -> int:
    variants = args.backend or list(KNOWN_VARIANTS)
    out: dict[str, dict] = {}
    browsers = args.browser or ["chromium"]
    failed: dict[str, str] = {}  # browser -> why it could not start (here, or remotely)
    with Harness(endpoints=endpoints(args, browsers)) as h:
        for browser in browsers:
            try:
                session = h.session(browser)
                for v in variants:
                    session.probe(v)
            except (BrowserUnavailable, PageError) as e:  # at its start, or a page's: the
                failed[browser] = str(e)  # browser, or where it loads pages from, cannot work
        out = h.environment()["browsers"]
    for browser, why in failed.items():
        out[browser] = {"version": None, "error": why, "backends": {}}
    for browser, entry in out.items():
        if entry.get("error"):
            print(f"{browser}: unavailable: {entry['error']}")
            continue
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
    return 1 if failed else 0  # a browser asked for that cannot start here
