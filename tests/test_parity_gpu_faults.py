"""GPU faults stay with their case: a lost WebGL context, a destroyed WebGPU device, a killed GPU
process, a step or a user's code that switches TF.js's backend. The case that met the fault is
an error naming it at the step that was running (never a class of the user's numbers), and the
next, innocent case runs on a fresh page (web/page/gpu.js, BackendPage.fault)."""

import json
import threading
import time
from pathlib import Path

import psutil
import pytest

from harness.specs.spec import load

pytestmark = pytest.mark.parity

SCAN = Path(__file__).parent.parent / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"

OPS = """
import numpy as np

def double(x):
    return np.asarray(x, dtype=np.float32) * np.float32(2)
"""
OPS_JS = """
export function double(x) { return x.toFloat().mul(2); }
export function loseContext(x) {
  tf.backend().gpgpu.gl.getExtension('WEBGL_lose_context').loseContext();
  return x.toFloat().mul(2);
}
export function destroyDevice(x) {
  tf.backend().device.destroy();
  return x.toFloat().mul(2);
}
export async function switchBackend(x) {
  await tf.setBackend('cpu');
  return x.toFloat().mul(2);
}
export async function switchBack(x) {
  const was = tf.getBackend();
  await tf.setBackend('cpu');
  const y = x.toFloat().mul(2);  // computed on cpu, then the backend is put back
  await tf.setBackend(was);
  return y;
}
export async function reset(x) {
  const was = tf.getBackend();
  const values = await x.data();
  tf.engine().reset();
  await tf.setBackend(was);
  return tf.tensor(values, x.shape, x.dtype).toFloat().mul(2);
}
export async function sameBackend(x) {
  await tf.setBackend(tf.getBackend());  // no switch: not a fault
  return x.toFloat().mul(2);
}
export async function wait(x) {
  await new Promise((r) => setTimeout(r, 5000));
  return x.toFloat().mul(2);
}
"""


def pipeline(tmp_path: Path, js: str):
    """decode, then `fault` (the JS export `js`, Python doubling), then `after` (doubling)."""
    (tmp_path / "web").mkdir(exist_ok=True)
    (tmp_path / "my_ops.py").write_text(OPS)
    (tmp_path / "web" / "ops.js").write_text(OPS_JS)
    spec = {
        "name": js,
        "ops": {
            js: {"python": "my_ops.py:double", "js": f"web/ops.js#{js}"},
            "twice": {"python": "my_ops.py:double", "js": "web/ops.js#double"},
        },
        "timeout": 30,
        "steps": [{"op": "decode"}, {"name": "fault", "op": js}, {"name": "after", "op": "twice"}],
        "cases": [{"file": str(SCAN)}],
    }
    path = tmp_path / f"{js}.json"
    path.write_text(json.dumps(spec))
    return load(path)


def gpu_process():
    """The newest Chromium GPU process among this test process's children."""
    mine = psutil.Process().children(recursive=True)
    gpu = [p for p in mine if "--type=gpu-process" in " ".join(p.cmdline())]
    return sorted(gpu, key=lambda p: p.create_time())[-1]


@pytest.mark.parametrize(
    ("js", "variant", "said"),
    [
        ("loseContext", "webgl", "the WebGL context was lost while step 'fault' ran"),
        ("destroyDevice", "webgpu", "the WebGPU device was lost (reason destroyed"),
        ("switchBackend", "wasm", "the page's code called tf.setBackend('cpu'), switching"),
        (
            "switchBack",
            "webgl",
            "called tf.setBackend('cpu'), switching TF.js's backend from webgl",
        ),
        ("reset", "wasm", "the page's code called tf.engine().reset()"),
        ("wait", "webgl", "the WebGL context was lost while step 'fault' ran"),  # GPU killed
    ],
)
def test_parity_a_gpu_fault_is_its_cases_error_and_the_next_case_gets_a_fresh_page(
    parity_harness, tmp_path, js, variant, said
):
    healthy = pipeline(tmp_path, "double")
    case = healthy.cases[0].load()
    assert parity_harness.run(healthy, case, "chromium", variant).passed
    if js == "wait":  # the GPU process is killed by its PID while the step runs
        victim = gpu_process()
        threading.Timer(1.5, victim.kill).start()
    faulty = pipeline(tmp_path, js)
    t0 = time.perf_counter()
    run = parity_harness.run(faulty, case, "chromium", variant)
    assert time.perf_counter() - t0 < 10  # at once, not after the step's 30 s limit
    assert run.status == "error" and said in run.reason, run.reason
    stages = {s.name: s for s in run.stages}
    assert stages["decode"].verdict == "pass"  # what finished before the fault is kept
    assert stages["fault"].verdict == "error" and stages["fault"].own_error_class is None
    assert all(s.verdict != "fail" for s in run.stages)  # no class of the user's numbers
    after = parity_harness.run(healthy, case, "chromium", variant)
    assert after.passed, after.reason


def test_parity_setting_the_backend_it_already_runs_is_no_fault(parity_harness, tmp_path):
    same = pipeline(tmp_path, "sameBackend")
    case = same.cases[0].load()
    for _ in range(2):
        run = parity_harness.run(same, case, "chromium", "wasm")
        assert run.passed, run.reason


def test_parity_a_gpu_process_killed_between_cases_costs_the_next_case_nothing(
    parity_harness, tmp_path
):
    healthy = pipeline(tmp_path, "double")
    case = healthy.cases[0].load()
    assert parity_harness.run(healthy, case, "chromium", "webgl").passed
    before = len(parity_harness.browsers.replaced.get("chromium", []))
    gpu_process().kill()
    time.sleep(1)  # the page hears of its lost context
    run = parity_harness.run(healthy, case, "chromium", "webgl")
    assert run.passed, run.reason
    # no run was on the page: the report's environment says it was replaced, and why
    replaced = parity_harness.environment()["browsers"]["chromium"]["pages_replaced"][before:]
    assert any(
        r["variant"] == "webgl" and "the WebGL context was lost" in r["reason"] for r in replaced
    ), replaced


CODE_PY = """
import numpy as np

def run(path, tap):
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)[:64].astype(np.float32)
    tap("bytes", data)
    tap("doubled", data * 2)
    tap("tripled", data * 3)
"""
CODE_JS = """
import * as tf from '@tensorflow/tfjs';

export async function run({ bytes }, tap) {
  const data = tf.tensor1d(Float32Array.from(new Uint8Array(bytes).slice(0, 64)));
  tap('bytes', data);
  MIDDLE
  tap('doubled', data.mul(2));
  tap('tripled', data.mul(3));
  END
}
"""
LOSE = "tf.backend().gpgpu.gl.getExtension('WEBGL_lose_context').loseContext();"
SWITCH = "const was = tf.getBackend(); await tf.setBackend('cpu');"


@pytest.mark.parametrize(
    ("middle", "end", "at", "said", "kept"),
    [
        # lost while the code runs: the taps still on the GPU are lost with it
        (LOSE + " await new Promise((r) => setTimeout(r, 5000));", "", "doubled",
         "the WebGL context was lost while the code ran", []),
        # switched after the first tap: that tap is kept, the later ones ran on cpu
        (SWITCH, "await tf.setBackend(was);", "doubled",
         "the page's code called tf.setBackend('cpu')", ["bytes"]),
        # lost after the code's last tap: placed after it, not on a tap it reached
        ("", LOSE, "(after the last tap)",
         "the WebGL context was lost after the code's last tap", []),
    ],
)  # fmt: skip
def test_parity_users_code_that_loses_the_gpu_is_an_error_after_the_last_tap_it_reached(
    parity_harness, tmp_path, middle, end, at, said, kept
):
    (tmp_path / "web").mkdir()
    (tmp_path / "user_code.py").write_text(CODE_PY)
    js = CODE_JS.replace("MIDDLE", middle).replace("END", end)
    (tmp_path / "web" / "app.js").write_text(js)
    spec = {"name": "code", "code": {"python": "user_code.py:run", "js": "web/app.js#run"},
            "cases": [str(SCAN)], "timeout": 30}  # fmt: skip
    (tmp_path / "parity.json").write_text(json.dumps(spec))
    code = load(tmp_path / "parity.json")
    case = code.cases[0].load()
    t0 = time.perf_counter()
    run = parity_harness.run(code, case, "chromium", "webgl")
    assert time.perf_counter() - t0 < 10
    assert run.status == "error" and said in run.reason, run.reason
    stages = {s.name: s for s in run.stages}
    assert stages[at].verdict == "error", [(s.name, s.verdict) for s in run.stages]
    assert [n for n, s in stages.items() if s.verdict == "pass"] == kept
    assert all(s.verdict != "fail" for s in run.stages)
    healthy = pipeline(tmp_path, "double")
    assert parity_harness.run(healthy, healthy.cases[0].load(), "chromium", "webgl").passed
