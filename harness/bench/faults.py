"""`tfjs-parity bench faults`: each fault the harness must survive, injected through its public
interfaces (a user's custom op, killing a process by its own PID, a signal to the CLI), and
what it cost: how long the faulty case took to be reported, how long the next, innocent case
took, whether it passed, and whether what finished before the fault was kept. Measured figures,
never asserted here (the tests assert the behaviour)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness.core.paths import HOME as REPO
from harness.orchestrate.orchestrator import Harness
from harness.specs import spec
from harness.specs.spec import Pipeline

SCAN = REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"
PROGRESS = re.compile(r"^  \S.* / .* / chromium \S+: ")  # the CLI's line for a finished run
OPS = """
import time
import numpy as np

def double(x, fault=""):
    if fault == "python-hang":
        time.sleep(30)
    if fault == "python-none":
        return None
    return np.asarray(x, dtype=np.float32) * np.float32(2)
"""
OPS_JS = """
export async function double(x, { fault }) {
  if (fault === 'js-hang') { const end = Date.now() + 60000; while (Date.now() < end) {} }
  if (fault === 'wait') await new Promise((r) => setTimeout(r, 6000));
  const gl = fault === 'lose-context' ? tf.backend().gpgpu.gl : null;
  if (gl) gl.getExtension('WEBGL_lose_context').loseContext();
  if (fault === 'destroy-device') tf.backend().device.destroy();
  if (fault === 'switch-backend') {
    const was = tf.getBackend();
    await tf.setBackend('cpu');
    await tf.setBackend(was);
  }
  if (fault === 'big') return tf.fill([1 << 20], 0.5);
  return x.toFloat().mul(2);
}
"""
# name -> (backend, the op's `fault`, what to kill while the op waits, --max-stage-mb)
FAULTS: dict[str, tuple[str, str, str | None, float | None]] = {
    "js step hangs (--timeout 3)": ("wasm", "js-hang", None, None),
    "python step hangs (--timeout 3)": ("wasm", "python-hang", None, None),
    "python op returns None": ("wasm", "python-none", None, None),
    "renderer killed": ("wasm", "wait", "renderer", None),
    "browser killed": ("wasm", "wait", "browser", None),
    "playwright driver killed": ("wasm", "wait", "driver", None),
    "gpu process killed": ("webgl", "wait", "gpu", None),
    "webgl context lost": ("webgl", "lose-context", None, None),
    "webgpu device destroyed": ("webgpu", "destroy-device", None, None),
    "backend switched and back": ("webgl", "switch-backend", None, None),
    "stage over --max-stage-mb 1": ("wasm", "big", None, 1.0),
}


def faults() -> dict[str, Any]:
    rows = {name: _fault(*how) for name, how in FAULTS.items()}
    return {"faults": rows, "signals": signals()}


def _pipeline(root: Path, fault: str) -> Pipeline:
    (root / "web").mkdir(exist_ok=True)
    (root / "my_ops.py").write_text(OPS)
    (root / "web" / "ops.js").write_text(OPS_JS)
    steps = [{"op": "decode"}, {"name": "pre", "op": "double", "params": {"fault": ""}},
             {"name": "fault", "op": "double", "params": {"fault": fault}}]  # fmt: skip
    path = root / f"{fault or 'healthy'}.json"
    ops = {"double": {"python": "my_ops.py:double", "js": "web/ops.js#double"}}
    path.write_text(json.dumps({"name": fault or "healthy", "ops": ops, "steps": steps,
                                "cases": [{"file": str(SCAN)}]}))  # fmt: skip
    return spec.load(path)


def _fault(backend: str, fault: str, kill: str | None, cap: float | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, Harness(repeat=False, timeout=3) as h:
        healthy, faulty = _pipeline(Path(tmp), ""), _pipeline(Path(tmp), fault)
        case = healthy.cases[0].load()
        if not h.run(healthy, case, "chromium", backend).passed:
            return {"backend": backend, "skipped": "a healthy run does not pass here"}
        if cap is not None:
            h.max_stage_mb = cap
        if kill is not None:
            victims = _victims(kill)
            threading.Timer(2.0, lambda: [_kill(p) for p in victims]).start()
        t0 = time.perf_counter()
        bad = h.run(faulty, case, "chromium", backend)
        fault_seconds = time.perf_counter() - t0
        h.max_stage_mb = 512.0
        t0 = time.perf_counter()
        after = h.run(healthy, case, "chromium", backend)
        next_seconds = time.perf_counter() - t0
        pre = next((s for s in bad.stages if s.name == "pre"), None)
    return {
        "backend": backend,
        "fault_run": bad.status,
        "said": (bad.reason or "")[:160],
        "no_fail_class": all(s.verdict != "fail" for s in bad.stages),
        "kept_before_fault": pre is not None and pre.verdict == "pass",
        "fault_seconds": round(fault_seconds, 2),
        "next_seconds": round(next_seconds, 2),
        "next_passed": after.passed,
    }


def _victims(kind: str) -> list[Any]:
    """This process's newest Chromium process of `kind` (renderer, browser, gpu) or its
    newest Playwright driver."""
    import psutil

    def matches(p: Any) -> bool:
        line = " ".join(p.cmdline())
        if kind == "driver":
            return "run-driver" in line
        if "chrom" not in p.name():
            return False
        if kind == "browser":
            return "--type=" not in line
        return f"--type={'gpu-process' if kind == 'gpu' else 'renderer'}" in line

    found = [p for p in psutil.Process().children(recursive=True) if matches(p)]
    if kind == "renderer":
        return found  # every page's renderer: the bench's only page is among them
    return sorted(found, key=lambda p: p.create_time())[-1:]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _kill(process: Any) -> None:
    with contextlib.suppress(Exception):  # already gone
        process.kill()


def signals() -> dict[str, Any]:
    """SIGINT and SIGTERM to `tfjs-parity run` once its first run is reported: seconds from
    the signal to the exit, the exit status, and whether report.json holds every run the
    terminal had reported finished."""
    out: dict[str, Any] = {}
    seed = REPO / "fixtures" / "pipelines" / "seed.json"
    model = REPO / "fixtures" / "models" / "xray_mobilenetv2.h5"
    runs: dict[str, list[str]] = {
        "seed pipeline": [str(seed), "--backend", "cpu"],
        "model, every layer": ["--model", str(model), "--alone", "--samples", "3"],
    }
    for what, args in runs.items():
        for signum in (signal.SIGINT, signal.SIGTERM):
            out[f"{signal.Signals(signum).name}, {what}"] = _signal(args, signum)
    return out


def _signal(args: list[str], signum: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "harness.cli", "run", *args, "--out", str(Path(tmp) / "o")]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # SIGINT handled as at a terminal, even when the bench itself runs in the background
        # (a shell starts background jobs with SIGINT ignored, and children inherit that)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=env, start_new_session=True,
                                preexec_fn=_default_sigint)  # fmt: skip
        assert proc.stdout is not None
        reported = 0
        for line in proc.stdout:  # the first run's line: the harness is on the next run
            if PROGRESS.match(line):
                reported += 1
                break
        t0 = time.perf_counter()
        proc.send_signal(signum)
        rest = proc.stdout.read()
        proc.wait(timeout=120)
        seconds = time.perf_counter() - t0
        # runs that finished as it stopped are reported too; a case cut short is not a run
        reported += sum(
            1 for line in rest.splitlines() if PROGRESS.match(line) and "interrupted" not in line
        )
        report = json.loads((Path(tmp) / "o" / "report.json").read_text())
    kept = sum(len(c["runs"]) for c in report["cases"])
    return {
        "seconds_to_exit": round(seconds, 2),
        "exit_status": proc.returncode,
        "interrupted": report.get("interrupted"),
        "runs_reported_finished": reported,
        "runs_in_report": kept,
        "every_finished_run_kept": kept >= reported,
    }
