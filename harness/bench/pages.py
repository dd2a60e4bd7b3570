"""`bench transfer`, `bench compare`, `bench isolation`: moving stages out of the page, comparing
them, and what the isolated pass costs a run."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from harness.compare.metrics import compare as compare_arrays
from harness.compare.tolerance import FLOAT32
from harness.orchestrate.orchestrator import Harness
from harness.runtimes.browser import hooks_for_tests

MB = 1e6


def transfer(
    harness: Harness,
    megabytes: float = 40.0,
    naive_megabytes: float = 1.0,
    repeats: int = 5,
    naive_repeats: int = 1,
) -> dict[str, Any]:
    """A float32 tensor from the page into numpy: Blob POST (ours) vs page.evaluate JSON (naive).

    The array is created in the page first, so only the move is timed: page -> server -> numpy.
    Best of the repeats for each path, both in the same browser and run. The naive path moves
    less data (it runs at well under 1 MB/s here); rates are compared, not times."""
    page = harness.backend_page("chromium", "cpu").page
    hooks = hooks_for_tests(page)
    count = page.evaluate(f"a => {hooks}.bench.prepare(a)", {"megabytes": megabytes})
    nbytes = count * 4
    fast, received = [], None
    for i in range(repeats):
        key = f"bench/transfer-{i}"
        t0 = time.perf_counter()
        page.evaluate(f"a => {hooks}.bench.upload(a)", {"key": key})
        received = harness.server.uploads.take(key).to_numpy()
        fast.append(time.perf_counter() - t0)
    naive_count = int(naive_megabytes * MB / 4)
    naive = []
    for _ in range(naive_repeats):
        t0 = time.perf_counter()
        values = page.evaluate(f"a => {hooks}.bench.naive(a)", {"count": naive_count})
        as_numpy = np.asarray(values, dtype=np.float32)
        naive.append(time.perf_counter() - t0)
    if received is None or not np.array_equal(received[:naive_count], as_numpy):
        raise AssertionError("the two transfer paths delivered different values")
    mb_per_s = nbytes / MB / min(fast)
    naive_mb_per_s = naive_count * 4 / MB / min(naive)
    return {
        "transfer": {
            "browser": "chromium",
            "method": "fetch POST of a Blob to the loopback server, into numpy.frombuffer",
            "megabytes": round(nbytes / MB, 3),
            "seconds": round(min(fast), 4),
            "mb_per_s": round(mb_per_s, 1),
            "naive_method": "page.evaluate returning Array.from(Float32Array) (JSON), np.asarray",
            "naive_megabytes": round(naive_count * 4 / MB, 3),
            "naive_seconds": round(min(naive), 4),
            "naive_mb_per_s": round(naive_mb_per_s, 2),
            "speedup": round(mb_per_s / naive_mb_per_s, 1),
            "repeats": repeats,
            "naive_repeats": naive_repeats,
        }
    }


def compare(megabytes: float = 200.0, repeats: int = 5) -> dict[str, Any]:
    """Comparator throughput, every metric at once, on float32 pairs: reference + candidate
    bytes per second (a float32 reference against a float32 candidate, as TF-vs-TF.js)."""
    rng = np.random.default_rng(0)
    n = int(megabytes * MB / 8)
    reference = rng.standard_normal(n, dtype=np.float32)
    candidate = reference + rng.standard_normal(n, dtype=np.float32) * np.float32(1e-6)
    compare_arrays(reference[: 1 << 20], candidate[: 1 << 20], FLOAT32)  # warm the threads
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        compare_arrays(reference, candidate, FLOAT32)
        best = min(best, time.perf_counter() - t0)
    nbytes = reference.nbytes + candidate.nbytes
    return {
        "compare": {
            "gigabytes": round(nbytes / 1e9, 3),
            "seconds": round(best, 4),
            "gb_per_s": round(nbytes / 1e9 / best, 3),
            "metrics": "max_abs, max_rel, max_ulp, mismatches, min passing atol/rtol, worst index",
            "repeats": repeats,
        }
    }


def isolation() -> dict[str, Any]:
    """Wall time of `tfjs-parity run` on the default suite with isolated runs and without
    (each a fresh process, as a user runs it), and their ratio."""
    seconds = {}
    for label, extra in (("default", []), ("no_isolated", ["--no-isolated"])):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "harness.cli", "run", "--out", out, *extra],
                capture_output=True,
                check=False,
            )
            seconds[label] = time.perf_counter() - t0
    return {
        "isolation": {
            "default_seconds": round(seconds["default"], 2),
            "no_isolated_seconds": round(seconds["no_isolated"], 2),
            "ratio": round(seconds["default"] / seconds["no_isolated"], 2),
        }
    }
