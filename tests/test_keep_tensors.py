"""Failure tensors: a failing stage's arrays kept beside the report and named in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.core.outputs import RuntimeOutput
from harness.core.results import RunResult, StageResult
from harness.orchestrate.keep import TensorKeeper
from tests.builders import metrics as a_metrics
from tests.test_cli import tfjs_parity
from tests.test_pairs import planted_fault_project

REPO = Path(__file__).parent.parent
SCAN = REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"


def _stage(name: str, verdict: str, own: str | None = None) -> StageResult:
    metrics = a_metrics(0.0)
    return StageResult(name, [4], "float32", [4], "float32", verdict, metrics, None, None,
                       own_verdict=own)  # fmt: skip


def _run() -> tuple[RunResult, RuntimeOutput, RuntimeOutput]:
    result = RunResult("chromium", "cpu", "ok")
    result.stages = [_stage("a", "pass"), _stage("b", "fail", "fail"), _stage("c", "pass", "fail")]
    result.unexpected = ["b", "c"]  # a run that does not pass: its failing stages are kept
    ref = {n: np.full(4, i, np.float32) for i, n in enumerate("abc")}
    js = {n: v + 1 for n, v in ref.items()}
    return result, RuntimeOutput(ref), RuntimeOutput(js)


def test_failing_stages_keep_both_sides_and_their_input(tmp_path):
    result, ref, js = _run()
    TensorKeeper(tmp_path).keep_run("p", "c/1.dcm", result, ref, js, None, ["a", "b", "c"])
    a, b, c = result.stages
    assert a.tensors is None  # passed end to end and alone
    assert b.tensors is not None and set(b.tensors) == {"reference", "candidate", "input"}
    assert np.array_equal(np.load(tmp_path / b.tensors["reference"]), ref.stages["b"])
    assert np.array_equal(np.load(tmp_path / b.tensors["candidate"]), js.stages["b"])
    assert np.array_equal(np.load(tmp_path / b.tensors["input"]), ref.stages["a"])
    assert c.tensors is not None  # its own error fails though it passed end to end
    assert b.tensors["reference"].startswith("tensors/")


def test_a_run_that_passes_keeps_nothing_by_default(tmp_path):
    """Its failing stages are declared divergences that happened as declared."""
    result, ref, js = _run()
    result.unexpected = []
    assert result.passed
    TensorKeeper(tmp_path).keep_run("p", "c", result, ref, js, None, "abc")
    assert (
        all(s.tensors is None for s in result.stages) and not tmp_path.joinpath("tensors").exists()
    )


def test_all_none_and_the_cap(tmp_path):
    result, ref, js = _run()
    TensorKeeper(tmp_path / "all", "all").keep_run("p", "c", result, ref, js, None, "abc")
    assert all(s.tensors for s in result.stages)
    result, ref, js = _run()
    TensorKeeper(tmp_path / "none", "none").keep_run("p", "c", result, ref, js, None, "abc")
    assert not (tmp_path / "none").exists() and all(s.tensors is None for s in result.stages)
    result, ref, js = _run()
    capped = TensorKeeper(tmp_path / "cap", "all", cap_mb=40 / (1 << 20))  # 40 bytes
    capped.keep_run("p", "c", result, ref, js, None, "abc")
    first, second, _ = result.stages
    assert set(first.tensors) == {"reference", "candidate"}  # 32 bytes
    assert "cap" in second.tensors["not_kept"]
    with pytest.raises(ValueError, match="one of failing, all, none"):
        TensorKeeper(tmp_path, "some")


def test_parity_a_failing_stage_s_arrays_are_in_the_run_s_folder(tmp_path):
    planted_fault_project(
        tmp_path / "p.json", {"name": "tiled", "op": "tile", "params": {"reps": [1, 1, 2]}}
    )
    done = tfjs_parity("run", "p.json", "--backend", "cpu", "--no-repeat", "--out", "out",
                       cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    stages = {s["name"]: s for s in report["cases"][0]["runs"][0]["stages"]}
    assert stages["tiled"]["own_verdict"] == "pass"  # passes alone, fails end to end: kept
    # every stage's, with --keep-tensors all, of this run (another folder)
    done = tfjs_parity("run", "p.json", "--backend", "cpu", "--no-repeat", "--out", "out",
                       "--keep-tensors", "all", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    stages = {s["name"]: s for s in report["cases"][0]["runs"][0]["stages"]}
    assert stages["input"]["tensors"] is not None
    named = stages["second"]["tensors"]
    assert set(named) == {"reference", "candidate", "isolated", "input", "step"}
    kept = {k: np.load(tmp_path / "out" / v) for k, v in named.items() if k != "step"}
    # the page's shifted op adds 1 on cpu: both its runs are the reference plus one
    assert np.allclose(kept["candidate"], kept["reference"] + 1)
    assert np.allclose(kept["isolated"], kept["reference"] + 1)
    assert np.array_equal(kept["input"], kept["reference"] / 2)  # Python's 'first', fed to it
    step = json.loads((tmp_path / "out" / stages["second"]["tensors"]["step"]).read_text())
    assert (step["op"], step["js"], step["backend"]) == ("shift", {"factor": 2.0}, "cpu")

    # the repro pack: its page, opened in Chromium with nothing of the harness, gives the
    # harness's numbers for the step alone, and its Python gives the reference
    done = tfjs_parity("repro", "out", "--case", SCAN.name, "--stage", "second", "--out", "pack",
                       cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    pack = tmp_path / "pack"
    assert {"input.npy", "repro.html", "repro.js", "reference.py", "README.md"} <= {
        p.name for p in pack.iterdir()
    }
    assert (
        "alone, fed the Python input (`input.npy`): max |js - python| 1,"
        in (pack / "README.md").read_text()
    )
    result = _open_pack(pack)
    assert result.get("error") is None, result
    assert (result["backend"], result["shape"], result["dtype"]) == ("cpu", [96, 80, 1], "float32")
    assert result["max_abs_vs_harness"] == 0  # reproduces the harness's numbers
    assert result["max_abs_vs_reference"] == 1  # and the fault: the page's op adds 1 on cpu
    python = subprocess.run([sys.executable, "reference.py"], cwd=pack, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert python.returncode == 0, python.stderr
    assert "max |python - reference.npy| 0.0" in python.stdout
    # a catalogue op's pack (the page's own ops), the backend named
    done = tfjs_parity("repro", "out", "--case", SCAN.name, "--stage", "tiled", "--backend",
                       "cpu", "--out", "tiled", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = _open_pack(tmp_path / "tiled")
    assert result.get("error") is None, result
    assert (result["max_abs_vs_harness"], result["max_abs_vs_reference"]) == (0, 0)
    python = subprocess.run([sys.executable, "reference.py"], cwd=tmp_path / "tiled",
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "max |python - reference.npy| 0.0" in python.stdout, python.stderr
    for stage, said in (("input", "not a step"), ("nosuch", "no stage 'nosuch'")):
        done = tfjs_parity("repro", "out", "--case", SCAN.name, "--stage", stage, cwd=tmp_path)
        assert done.returncode == 2 and said in done.stderr, done.stderr


def _open_pack(pack: Path) -> dict:
    """repro.html served as a user would serve it (python -m http.server), in Chromium."""
    from playwright.sync_api import sync_playwright

    from harness.runtimes.chromium import CHROMIUM_PATH, QUIET_ARGS

    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", str(pack)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
        port = int(line.split(" port ")[1].split()[0])
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM_PATH, args=[*QUIET_ARGS, "--no-sandbox"]
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/repro.html")
            page.wait_for_function("globalThis.reproResult !== undefined", timeout=60_000)
            result = page.evaluate("globalThis.reproResult")
            browser.close()
        return result
    finally:
        server.kill()
        server.wait()


def test_a_stage_whose_shape_differs_is_a_failure_kept_like_any_other(tmp_path):
    """No metrics (shapes that differ are not compared element by element), a failure all the
    same: both arrays are kept, to look at."""
    result, ref, js = _run()
    shaped = StageResult("b", [3], "float32", [4], "float32", "fail", None, None, None)
    shaped.message = "shape differs: python [4] vs js [3]"
    result.stages[1] = shaped
    js.stages["b"] = np.zeros(3, np.float32)
    TensorKeeper(tmp_path).keep_run("p", "c", result, ref, js, None, ["a", "b", "c"])
    assert shaped.tensors is not None and set(shaped.tensors) >= {"reference", "candidate"}
    assert np.load(tmp_path / shaped.tensors["candidate"]).shape == (3,)
