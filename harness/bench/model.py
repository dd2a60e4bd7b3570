"""`bench model`: every layer of the bundled model captured and compared, against a plain
inference in the same page; the harness process's peak memory over the default run."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.paths import HOME as REPO
from harness.orchestrate.orchestrator import Harness
from harness.runtimes.browser import hooks_for_tests
from harness.specs import spec
from harness.specs.cases import Case
from harness.specs.spec import Pipeline

MB = 1e6


BUNDLED_MODEL = "fixtures/pipelines/seed-matched-model.json"
MODEL_TARGETS = {"wasm": 3.0, "webgl": 5.0}  # capture+compare <= N x the inference alone


def model(variants: Sequence[str] = ("wasm", "webgl"), repeats: int = 5) -> dict[str, Any]:
    """Every layer of the bundled model captured and compared, against a plain inference in the
    same page, per backend.

    The model's input is the preprocessed first bundled case (Python's tensor after
    expand_dims), so only the model is timed. `inference_ms`: predict + read the output, as an
    app does. `capture_compare_ms`: a whole `Harness.run` of the model step (input sent,
    every layer computed, read back, sent to Python, compared with the cached TF reference,
    folded into the report), wall clock. Medians of the repeats, after one warm-up each."""
    from harness.orchestrate.suite import bundled_case

    pipeline = spec.load(REPO / BUNDLED_MODEL)
    case = bundled_case("examples_overlay")
    model_step = pipeline.steps[-1]
    only_model = Pipeline(f"{pipeline.name}:model", (model_step,))
    with Harness(isolated=False, repeat=False, hints=False) as h:
        preprocessed = h.reference(pipeline, case).stages[pipeline.stage_names[-2]]
        model_case = Case(f"{case.id}:preprocessed", preprocessed.astype(np.float32))
        steps = h.js_steps(only_model, model_case)
        h.reference(only_model, model_case)  # TF's layers once, as a run would reuse them
        rows = {}
        for variant in variants:
            page = h.backend_page("chromium", variant)
            key = f"bench/model-{variant}"
            h.server.offer_inputs(key, {"input": model_case.input})
            try:
                inference = page.page.evaluate(
                    f"a => {hooks_for_tests(page.page)}.bench.inference(a)",
                    {"params": steps[0]["params"], "inputKey": key, "repeats": repeats},
                    600,
                )
            finally:
                h.server.withdraw_input(key)
            walls, in_page, layers = [], [], 0
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                result = h.run(only_model, model_case, "chromium", variant, js_steps=steps)
                if i == 0:
                    continue  # warm-up: the capture model's shaders and kernels
                walls.append(time.perf_counter() - t0)
                in_page.append(result.timings.get("compute", 0.0))
                if result.status != "ok" or not result.passed:
                    raise AssertionError(f"{variant}: the model run did not pass: {result.reason}")
                layers = len(result.stages[-1].layers)
            inference_ms = statistics.median(inference)
            capture_ms = statistics.median(walls) * 1000
            ratio = capture_ms / inference_ms
            row: dict[str, Any] = {
                "inference_ms": round(inference_ms, 1),
                "capture_compare_ms": round(capture_ms, 1),
                "capture_in_page_ms": round(statistics.median(in_page) * 1000, 1),
                "ratio": round(ratio, 2),
                "layers": layers,
                "layer_megabytes": round(
                    sum(a.nbytes for a in h.reference(only_model, model_case).stages.values()) / MB,
                    1,
                ),
            }
            if variant in MODEL_TARGETS:
                row["target_ratio"] = MODEL_TARGETS[variant]
                row["met"] = ratio <= MODEL_TARGETS[variant]
            rows[variant] = row
    return {"model": {"model": model_step.python["path"], "repeats": repeats, "backends": rows}}


def peak_rss() -> dict[str, Any]:
    """Peak RSS of the harness process over a full default `tfjs-parity run` (fresh process;
    the browsers are separate processes and not counted)."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", "--out", out],
            capture_output=True,
            check=False,
        )
        report = json.loads((Path(out) / "report.json").read_text())
    mb = report["resources"]["peak_rss_mb"]
    return {"peak_rss": {"default_run_peak_rss_mb": mb, "target_mb": 2000, "met": mb < 2000}}
