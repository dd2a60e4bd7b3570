"""`bench replay`: the bundled suite compared with a live Python reference and with one recorded
beforehand and replayed with TensorFlow unimportable, in the same benchmark, each a fresh
process as a user runs it."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# TensorFlow (and what imports it) made unimportable before the harness loads; the process
# exits 3 when something imported it all the same
NO_TF = """
import sys
for name in ("tensorflow", "tf_keras", "tensorflowjs", "tensorflow_decision_forests"):
    sys.modules[name] = None
from harness.cli import main
code = main(sys.argv[1:])
sys.exit(3 if sys.modules.get("tensorflow") is not None else code)
"""


def replay(rounds: int = 2) -> dict[str, Any]:
    """Seconds of `record` on the bundled suite, then `rounds` x (live run, replay), wall
    clock, alternating so the machine's drift falls on both; each run's report gives its
    peak RSS and whether it passed. `ratio`: median live / median replay."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "refs"
        t0 = time.perf_counter()
        recorded = _cli([sys.executable, "-m", "harness.cli", "record", "--out", str(store)])
        record_seconds = time.perf_counter() - t0
        if recorded.returncode != 0:
            raise RuntimeError(f"bench replay: record failed:\n{recorded.stdout}{recorded.stderr}")
        live: list[dict[str, Any]] = []
        replayed: list[dict[str, Any]] = []
        for i in range(rounds):
            out = Path(tmp) / f"live{i}"
            live.append(timed([sys.executable, "-m", "harness.cli", "run", "--out", str(out)], out))
            out = Path(tmp) / f"replay{i}"
            command = [sys.executable, "-c", NO_TF, "run", "--references", str(store)]
            replayed.append(timed([*command, "--out", str(out)], out))
    median_live = round(statistics.median([r["seconds"] for r in live]), 2)
    median_replay = round(statistics.median([r["seconds"] for r in replayed]), 2)
    return {
        "replay": {
            "record_seconds": round(record_seconds, 2),
            "live": live,
            "replay": replayed,
            "tensorflow_imported_in_replay": any(r["exit"] == 3 for r in replayed),
            "median_live_seconds": median_live,
            "median_replay_seconds": median_replay,
            "ratio": round(median_live / median_replay, 2),
        }
    }


def _cli(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)


def timed(command: list[str], out: Path, cwd: Path | None = None) -> dict[str, Any]:
    """`command` run to its end, wall clock, and what the report it wrote in `out` says."""
    t0 = time.perf_counter()
    done = _cli(command, cwd)
    seconds = time.perf_counter() - t0
    report = (
        json.loads((out / "report.json").read_text()) if (out / "report.json").is_file() else {}
    )
    return {
        "seconds": round(seconds, 2),
        "exit": done.returncode,
        "passed": report.get("passed"),
        "runs": sum(len(c.get("runs", [])) for c in report.get("cases", [])),
        "peak_rss_mb": report.get("resources", {}).get("peak_rss_mb"),
        "tf_import_seconds": report.get("timings", {}).get("tf_import"),
    }
