"""`bench xdist`: the bundled suite as parity tests (one test per pipeline and case, on cpu and
wasm), run by pytest in one process (`-n 0`) and on two pytest-xdist workers (`-n 2`), each
worker with a browser of its own; alternating, each a fresh pytest as a user runs it. `ratio`:
median one-process / median two-worker seconds."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.bench.replay import timed

# one test per (pipeline, case) of the bundled suite, on the backends the command line asks for
TESTS = """
import pytest

from harness.orchestrate.suite import bundled_suite

SUITE = bundled_suite()
PAIRS = [(p, c) for p in SUITE.pipelines for c in SUITE.cases]


@pytest.mark.parity
@pytest.mark.parametrize("pair", PAIRS, ids=[f"{p.name}-{c.id}" for p, c in PAIRS])
def test_bundled(parity_run, assert_parity, pair):
    pipeline, source = pair
    assert_parity(parity_run(pipeline, source.load()))
"""
BACKENDS = ("cpu", "wasm")


def xdist(rounds: int = 2, workers: int = 2) -> dict[str, Any]:
    """`rounds` x (-n 0, -n `workers`), wall clock; each run's merged report gives its runs and
    whether it passed."""
    serial: list[dict[str, Any]] = []
    parallel: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "test_bundled.py").write_text(TESTS)
        for i in range(rounds):
            serial.append(_pytest(Path(tmp), f"serial{i}", 0))
            parallel.append(_pytest(Path(tmp), f"parallel{i}", workers))
    one = round(statistics.median([r["seconds"] for r in serial]), 2)
    two = round(statistics.median([r["seconds"] for r in parallel]), 2)
    return {
        "xdist": {
            "backends": list(BACKENDS),
            "workers": workers,
            "serial": serial,
            "parallel": parallel,
            "median_serial_seconds": one,
            "median_parallel_seconds": two,
            "ratio": round(one / two, 2),
        }
    }


def _pytest(folder: Path, name: str, workers: int) -> dict[str, Any]:
    out = folder / name
    command = [sys.executable, "-m", "pytest", "-q", "-p", "xdist", "-n", str(workers), "-p",
               "no:cacheprovider", "--rootdir", str(folder), "--parity-out", str(out)]  # fmt: skip
    for backend in BACKENDS:
        command += ["--parity-backend", backend]
    return timed([*command, str(folder / "test_bundled.py")], out, folder)
