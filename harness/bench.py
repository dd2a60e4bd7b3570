"""`tfjs-parity bench`: measured figures, never asserted by tests."""

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

from harness.compare.metrics import compare as compare_arrays
from harness.compare.tolerance import FLOAT32
from harness.core.paths import HOME as REPO
from harness.orchestrate.orchestrator import Harness
from harness.runtimes.browser import hooks_for_tests
from harness.specs import spec
from harness.specs.cases import Case
from harness.specs.spec import Pipeline

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


def decode(repeats: int = 7) -> dict[str, Any]:
    """A 512x512 16-bit DICOM file decoded in the page (dicom-parser) and by pydicom, same run,
    as MB/s of the file. `page_decode`: the page's decode op alone, the file already in the page
    (parse, read the frame, mask, make the tensor, read it back); `page`: the same plus fetching
    the file from the harness (in-page ms); `page_run`: a whole `Harness.run` of the decode step
    on wasm (file sent, decoded, pulled, compared with pydicom's array); `python`: pydicom's
    decode. Medians after a warm-up."""
    from harness import dicom
    from harness.orchestrate.suite import bundled_pipeline
    from harness.specs import cases

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_512x512_16bit.dcm"
        path.write_bytes(_dicom_512x512())
        case = cases.from_file(path)
    data = case.file.tobytes()
    pipeline = bundled_pipeline(REPO / "fixtures" / "pipelines" / "decode.json")
    python = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        dicom.decode(data)
        python.append(time.perf_counter() - t0)
    with Harness(isolated=False, repeat=False, hints=False) as h:
        page = h.backend_page("chromium", "wasm").page
        hooks = hooks_for_tests(page)
        key = "bench/decode"
        h.server.offer_inputs(key, {"file": case.file})
        try:
            in_page = [
                page.evaluate(f"a => {hooks}.decodeFile(a)", {"inputKey": key, "frame": 0})
                for _ in range(repeats + 1)
            ]
        finally:
            h.server.withdraw_input(key)
        if any(r["error"] for r in in_page):
            raise AssertionError(f"the page could not decode the bench file: {in_page[0]['error']}")
        runs = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            result = h.run(pipeline, case, "chromium", "wasm")
            runs.append(time.perf_counter() - t0)
            if not result.passed:
                raise AssertionError(f"decode run did not pass: {result.reason}")
    mb = len(data) / MB

    def rate(seconds: list[float]) -> float:
        return round(mb / statistics.median(seconds[1:]), 1)

    return {
        "decode": {
            "file_megabytes": round(mb, 3),
            "page_decode_mb_per_s": rate([r["decode_ms"] / 1000 for r in in_page]),
            "page_mb_per_s": rate([r["ms"] / 1000 for r in in_page]),
            "page_run_mb_per_s": rate(runs),
            "python_mb_per_s": rate(python),
            "repeats": repeats,
        }
    }


def _dicom_512x512() -> bytes:
    """A 512x512 MONOCHROME2 16-bit file (12 bits stored), explicit VR little endian."""
    import io

    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    ds = pydicom.dcmread(REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows = ds.Columns = 512
    ds.PixelRepresentation = 0
    values = np.random.default_rng(0).integers(0, 4096, (512, 512), dtype=np.uint16)
    ds.PixelData = values.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


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
