"""`bench memory`: the harness's memory while a large stage is compared."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.core.paths import HOME as REPO
from harness.orchestrate.orchestrator import Harness
from harness.specs import spec
from harness.specs.spec import Pipeline

MEMORY_OPS = """
import numpy as np

def big(x, mb):
    return np.full((int(mb) * 256, 1024), 0.5, dtype=np.float32)

def first(x):
    return np.asarray(x, dtype=np.float32).reshape(-1)[:1]
"""
MEMORY_OPS_JS = """
export function big(x, { mb }) { return tf.fill([mb * 256, 1024], 0.5); }
export function first(x) { return x.toFloat().reshape([-1]).slice([0], [1]); }
"""


def memory(megabytes: int = 512, variant: str = "wasm") -> dict[str, Any]:
    """Peak RSS of the harness process while it runs one case whose custom op makes a float32
    stage of `megabytes` MiB on each side, followed by a step that reads it (so the isolated
    pass sends it to the page as that step's input): how many times the stage's size the run
    adds to the process, target 1.5 (the Python stage itself is 1.0 of it). The browser is
    another process and not counted. Measured by sampling psutil's RSS every 5 ms."""
    import threading

    import psutil

    me = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp, Harness(repeat=False) as h:
        root = Path(tmp)
        (root / "web").mkdir()
        (root / "my_ops.py").write_text(MEMORY_OPS)
        (root / "web" / "ops.js").write_text(MEMORY_OPS_JS)

        def pipeline(mb: int) -> Pipeline:
            ops = {
                "big": {"python": "my_ops.py:big", "js": "web/ops.js#big"},
                "first": {"python": "my_ops.py:first", "js": "web/ops.js#first"},
            }
            steps = [{"op": "decode"}, {"name": "big", "op": "big", "params": {"mb": mb}},
                     {"name": "first", "op": "first"}]  # fmt: skip
            dicom = str(REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm")
            path = root / f"memory-{mb}.json"
            path.write_text(json.dumps({"name": "memory", "ops": ops, "steps": steps,
                                        "cases": [{"file": dicom}]}))  # fmt: skip
            return spec.load(path)

        warm = pipeline(1)
        case = warm.cases[0].load()
        h.run(warm, case, "chromium", variant)  # the page, TF.js and the imports, first
        big = pipeline(megabytes)
        base = me.memory_info().rss
        peak = [base]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], me.memory_info().rss)
                time.sleep(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        run = h.run(big, case, "chromium", variant)
        seconds = time.perf_counter() - t0
        done.set()
        sampler.join()
    added = (peak[0] - base) / (1 << 20)
    passed = run.status == "ok" and run.passed
    return {
        "memory": {
            "stage_mib": megabytes,
            "backend": variant,
            "run_status": run.status if run.status != "ok" else ("pass" if run.passed else "fail"),
            "seconds": round(seconds, 1),
            "baseline_rss_mib": round(base / (1 << 20)),
            "peak_added_mib": round(added),
            "times_stage": round(added / megabytes, 2),
            "target_times_stage": 1.5,
            # a run that did not compare the stage measured nothing
            "met": passed and added / megabytes <= 1.5,
        }
    }
