"""Large stages: one above the size the harness holds whole is pulled and compared slice by
slice (its worst element found in any slice), and one above --max-stage-mb is an error naming
its stage, shape and the cap. Sizes are scaled down here (STREAM_BYTES, SLICE_BYTES patched);
`tfjs-parity bench memory` measures the real ones."""

import json
from pathlib import Path

import pytest

from harness.runtimes import pulled
from harness.specs.spec import load

pytestmark = pytest.mark.parity

SCAN = Path(__file__).parent.parent / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"
OPS = """
import numpy as np

def ramp(x, n, off):
    return np.arange(n, dtype=np.float32) / np.float32(n)
"""
OPS_JS = """
export function ramp(x, { n, off }) {
  const y = tf.range(0, n, 1, 'float32').div(n);
  // `off`: the JS side differs at that one element (the last slice's end, say)
  return off < 0 ? y : y.add(tf.oneHot([off], n).reshape([n]).toFloat().mul(0.5));
}
"""


def ramp_pipeline(tmp_path, n, off=-1):
    (tmp_path / "web").mkdir(parents=True, exist_ok=True)
    (tmp_path / "my_ops.py").write_text(OPS)
    (tmp_path / "web" / "ops.js").write_text(OPS_JS)
    spec = {
        "name": "ramp",
        "ops": {"ramp": {"python": "my_ops.py:ramp", "js": "web/ops.js#ramp"}},
        "steps": [{"op": "decode"}, {"name": "ramp", "op": "ramp",
                                     "params": {"n": n, "off": off}}],
        "cases": [{"file": str(SCAN)}],
    }  # fmt: skip
    (tmp_path / "p.json").write_text(json.dumps(spec))
    return load(tmp_path / "p.json")


@pytest.fixture
def small_slices(monkeypatch):
    """A stage over 64 KB is streamed, in slices of 16 KB."""
    monkeypatch.setattr(pulled, "STREAM_BYTES", 64 << 10)
    monkeypatch.setattr(pulled, "SLICE_BYTES", 16 << 10)


def test_parity_a_large_stage_is_compared_slice_by_slice(parity_harness, tmp_path, small_slices):
    n = 100_000  # 400 KB: 25 slices
    same = ramp_pipeline(tmp_path / "same", n)
    assert parity_harness.run(same, same.cases[0].load(), "chromium", "wasm").passed
    off = ramp_pipeline(tmp_path / "off", n, off=n - 3)
    run = parity_harness.run(off, off.cases[0].load(), "chromium", "wasm")
    stage = next(s for s in run.stages if s.name == "ramp")
    assert stage.verdict == "fail" and stage.chained.mismatched == 1
    assert stage.chained.worst_index == [n - 3] or stage.chained.worst_index == (n - 3,)
    assert stage.chained.max_abs == pytest.approx(0.5)
    assert stage.own_verdict == "fail"  # the isolated pass streamed too
    assert any("not diagnosed: the stage is" in h["text"] for h in stage.hints)


def test_parity_a_stage_over_the_cap_is_an_error_naming_it(parity_harness, tmp_path, monkeypatch):
    monkeypatch.setattr(parity_harness, "max_stage_mb", 0.25)
    big = ramp_pipeline(tmp_path, 100_000)
    run = parity_harness.run(big, big.cases[0].load(), "chromium", "wasm")
    assert run.status == "error"
    said = (
        "js float32 [100000], 0.4 MB (400000 bytes), is over the cap of 0.25 MB (262144 bytes) "
        "per stage (--max-stage-mb): not read back"
    )
    assert f"ramp: {said}" in run.reason
    stage = next(s for s in run.stages if s.name == "ramp")
    assert stage.verdict == "error" and stage.message == f"the js stage could not be read: {said}"
    assert next(s for s in run.stages if s.name == "decode").verdict == "pass"
