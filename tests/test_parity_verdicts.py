"""Verdicts the user can trust, through the real page: nothing passes that was not compared, and
values are read by the tensor's own dtype on every backend."""

import json
import textwrap
from pathlib import Path

import pytest

from harness.pipeline import spec
from harness.suite import bundled_case

pytestmark = pytest.mark.parity

REPO = Path(__file__).parent.parent
SCAN = REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"
# cpu and webgl share a lossless cast's storage with its input; wasm copies
SHARING = ("cpu", "webgl")


def code_project(tmp_path: Path, python: str, js: str, **extra) -> Path:
    (tmp_path / "web").mkdir(exist_ok=True)
    (tmp_path / "user_code.py").write_text(textwrap.dedent(python))
    (tmp_path / "web" / "app.js").write_text(textwrap.dedent(js))
    doc = {
        "name": "user",
        "code": {"python": "user_code.py:run", "js": "web/app.js#run"},
        "cases": [str(SCAN)],
        **extra,
    }
    path = tmp_path / "parity.json"
    path.write_text(json.dumps(doc))
    return path


def run_file(harness, path: Path, backend: str):
    pipeline = spec.load(path)
    return harness.run(pipeline, pipeline.cases[0].load(), "chromium", backend)


CASTS_PY = """
import numpy as np

def run(path, tap):
    tap("to_float", np.array([255, 7, 1], np.float32))
    tap("bool_to_int", np.array([1, 0], np.int32))
"""
CASTS_JS = """
import * as tf from '@tensorflow/tfjs';

export async function run(file, tap) {
  tap('to_float', tf.tensor1d([255, 7, 1], 'int32').toFloat());
  tap('bool_to_int', tf.tensor1d([true, false], 'bool').cast('int32'));
}
"""


@pytest.mark.parametrize("backend", SHARING)
def test_parity_lossless_casts_are_read_by_their_own_dtype(parity_harness, tmp_path, backend):
    run = run_file(parity_harness, code_project(tmp_path, CASTS_PY, CASTS_JS), backend)
    assert (run.status, run.passed) == ("ok", True), run.reason
    by = {s.name: s for s in run.stages}
    assert (by["to_float"].dtype, by["to_float"].chained["max_abs"]) == ("float32", 0.0)
    assert (by["bool_to_int"].dtype, by["bool_to_int"].chained["max_abs"]) == ("int32", 0.0)
    assert all(s.own_error_class is None for s in run.stages)  # a tap has no own (isolated) run


@pytest.mark.parametrize("backend", SHARING)
def test_parity_the_catalogue_cast_after_decode_agrees(parity_harness, write_json, backend):
    path = write_json(
        "cast.json",
        {
            "name": "cast",
            "steps": [
                {"name": "decode", "op": "decode"},
                {"name": "cast", "op": "cast", "params": {"dtype": "float32"}},
            ],
            "cases": [{"file": str(SCAN)}],
        },
    )
    run = run_file(parity_harness, path, backend)
    assert run.passed, run.reason
    cast = run.stages[-1]
    assert (cast.verdict, cast.own_verdict, cast.chained["max_abs"]) == ("pass", "pass", 0.0)


def test_parity_a_tap_the_harness_cannot_read_is_an_error_not_a_pass(parity_harness, tmp_path):
    python = CASTS_PY + '    tap("complex", np.zeros(2, np.float32))\n'
    js = CASTS_JS.replace("}\n", "  tap('complex', tf.complex([1, 2], [3, 4]));\n}\n", 1)
    run = run_file(parity_harness, code_project(tmp_path, python, js), "cpu")
    assert run.status == "error" and not run.passed
    assert "tap 'complex'" in run.reason and "complex64" in run.reason


def test_parity_a_fault_after_the_declared_divergence_fails_the_run(parity_harness, fixtures_dir):
    seed = json.loads((fixtures_dir / "pipelines" / "seed.json").read_text())
    tile = next(s for s in seed["steps"] if s["op"] == "tile")
    tile["js"] = {"reps": [1, 3, 1]}  # the page tiles the wrong axis
    faulty = spec.parse(seed, str(fixtures_dir / "pipelines" / "seed.json"))
    case = spec.load(fixtures_dir / "pipelines" / "seed.json")
    run = parity_harness.run(faulty, bundled_case("examples_overlay"), "chromium", "cpu")
    assert run.status == "ok" and not run.passed
    assert run.first_divergence == "resize" and run.unexpected == ["tile"]
    assert run.unmet == []  # resize itself diverges as declared
    plain = parity_harness.run(case, bundled_case("examples_overlay"), "chromium", "cpu")
    assert plain.passed and plain.unexpected == []


def test_parity_the_examples_code_seed_passes_naming_the_taps_it_cannot_judge(parity_harness):
    path = REPO / "examples" / "dicom-preprocessing" / "parity" / "seed.json"
    run = run_file(parity_harness, path, "wasm")
    assert run.passed, run.unmet
    assert run.unjudged == ["tile", "batch"]
