"""Bring-your-own code with taps (specs/code_pipeline.py, orchestrate/tapped.py,
web/page/code.js): the example project's finding, and every bad input a user's code or
pipeline file can bring."""

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from harness.orchestrate.suite import Suite, load_suite, run_suite
from harness.specs import cases, spec
from harness.specs.params import PipelineSpecError

pytestmark = pytest.mark.parity

REPO = Path(__file__).parent.parent
EXAMPLE = REPO / "examples" / "dicom-preprocessing"
SCAN = REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"

PYTHON_OK = """
import numpy as np

def run(path, tap):
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    tap("bytes", data[:256].astype(np.float32))
    tap("scaled", data[:256].astype(np.float32) / 255)
"""
JS_OK = """
import * as tf from '@tensorflow/tfjs';

export async function run({ bytes }, tap) {
  const data = new Uint8Array(bytes).slice(0, 256);
  tap('bytes', tf.tensor1d(Float32Array.from(data)));
  tap('scaled', tf.tensor1d(Float32Array.from(data)).div(255));
}
"""


def project(tmp_path: Path, python: str = PYTHON_OK, js: str = JS_OK, **extra) -> Path:
    """A user's project: user_code.py, web/app.js and the pipeline file naming them."""
    (tmp_path / "web").mkdir(parents=True, exist_ok=True)
    (tmp_path / "user_code.py").write_text(textwrap.dedent(python))
    (tmp_path / "web" / "app.js").write_text(textwrap.dedent(js))
    pipeline = {
        "name": "user",
        "code": {"python": "user_code.py:run", "js": "web/app.js#run"},
        "cases": [str(SCAN)],
        **extra,
    }
    path = tmp_path / "parity.json"
    path.write_text(json.dumps(pipeline))
    return path


def run_one(parity_harness, pipeline_file: Path, backend: str = "wasm"):
    pipeline = spec.load(pipeline_file)
    return parity_harness.run(pipeline, pipeline.cases[0].load(), "chromium", backend)


def test_parity_the_examples_seed_fails_at_resize_and_the_fix_passes(parity_harness):
    seed = spec.load(EXAMPLE / "parity" / "seed.json")
    unexpected = dataclasses.replace(seed, expect={})
    for source in seed.cases:
        run = parity_harness.run(unexpected, source.load(), "chromium", "wasm")
        assert (run.status, run.first_divergence) == ("ok", "resize"), source.id
        assert [s.name for s in run.stages] == ["pixels", "normalize", "resize", "tile", "batch"]
        assert [s.verdict for s in run.stages[:2]] == ["pass", "pass"]
    fixed = spec.load(EXAMPLE / "parity" / "fixed.json")
    for source in fixed.cases:
        assert parity_harness.run(fixed, source.load(), "chromium", "wasm").passed, source.id


def test_parity_taps_made_by_one_side_only_are_named(parity_harness, tmp_path):
    js = JS_OK.replace("tap('scaled'", "tap('extra', tf.scalar(1));\n  tap('scaled'")
    python = PYTHON_OK + '    tap("python_only", np.zeros(2))\n'
    run = run_one(parity_harness, project(tmp_path, python, js))
    stages = {s.name: s for s in run.stages}
    assert list(stages) == ["bytes", "scaled", "python_only", "extra"]
    assert stages["python_only"].message == (
        "tapped in Python only: the JS code never calls tap('python_only', ...)"
    )
    assert stages["extra"].message == (
        "tapped in JS only: the Python code never calls tap('extra', ...)"
    )
    assert run.first_divergence == "python_only" and not run.passed


def test_parity_different_shapes_are_a_clear_failure(parity_harness, tmp_path):
    js = JS_OK.replace("tap('bytes', tf.tensor1d(", "tap('bytes', tf.tensor2d(").replace(
        "Float32Array.from(data)));", "Float32Array.from(data), [16, 16]));", 1
    )
    run = run_one(parity_harness, project(tmp_path, js=js))
    bytes_stage = run.stages[0]
    assert bytes_stage.message == "shape differs: python [256] vs js [16, 16]"
    assert run.first_divergence == "bytes"


@pytest.mark.parametrize(
    ("js", "said"),
    [
        (
            "export async function run(file, tap) {\n  tap('bytes', [1, 2, 3]);\n}\n",
            "JS code (app.js) threw before any tap: tap 'bytes': an Array is not a tf.Tensor",
        ),
        (
            JS_OK.replace("tap('scaled'", "tap('bytes'"),
            "tap 'bytes' is used twice",
        ),
        (
            JS_OK.replace("tap('scaled'", "undefinedFunction();\n  tap('scaled'"),
            "JS code (app.js) threw after tap 'bytes': undefinedFunction is not defined",
        ),
        ("export async function run(file, tap) {\n  tap('bytes',\n}\n", "failed to load"),
        ("import { nothing } from './missing.js';\nexport function run() {}\n", "failed to load"),
        ("export function other() {}\n", "has no function export 'run' (it exports: other)"),
    ],
    ids=["not_a_tensor", "tap_twice", "throws", "syntax_error", "missing_import", "no_export"],
)
def test_parity_bad_js_is_a_per_case_error_and_the_next_case_runs(
    parity_harness, tmp_path, js, said
):
    bad = spec.load(project(tmp_path, js=js))
    (tmp_path / "good").mkdir()
    good = spec.load(project(tmp_path / "good", name="good"))
    report = run_suite(
        parity_harness,
        Suite("s", (bad, good), bad.cases),
        ["wasm"],
        ["chromium"],
    )
    bad_run, good_run = (c.runs[0] for c in report.cases)
    assert bad_run.status == "error" and said in bad_run.reason, bad_run.reason
    assert good_run.passed  # the page lived on


def test_parity_a_js_error_names_the_users_file_and_line(parity_harness, tmp_path):
    js = JS_OK.replace("tap('scaled'", "null.x;\n  tap('scaled'")
    run = run_one(parity_harness, project(tmp_path, js=js))
    assert f"at run ({tmp_path / 'web' / 'app.js'}:7:" in run.reason, run.reason


@pytest.mark.parametrize(
    ("python", "said"),
    [
        (
            "def run(path, tap):\n    tap('bytes', [1, 2])\n",
            "tap 'bytes': a list is not a tensor",
        ),
        (PYTHON_OK.replace('tap("scaled"', 'tap("bytes"'), "tap 'bytes' is used twice"),
        (
            PYTHON_OK.replace('    tap("scaled"', '    1 / 0\n    tap("scaled"'),
            "raised ZeroDivisionError after tap 'bytes': division by zero",
        ),
    ],
    ids=["not_a_tensor", "tap_twice", "raises"],
)
def test_parity_bad_python_is_a_per_case_error_with_the_last_tap(
    parity_harness, tmp_path, python, said
):
    run = run_one(parity_harness, project(tmp_path, python=python))
    assert run.status == "error" and said in run.reason, run.reason
    assert f'File "{tmp_path / "user_code.py"}"' in run.reason  # the user's frame, with its path


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"code": {"python": "nope.py:run", "js": "web/app.js"}}, "no Python file"),
        ({"code": {"python": "user_code.py:walk", "js": "web/app.js"}}, "has no function 'walk'"),
        (
            {"code": {"python": "user_code.py:run", "js": "web/none.js"}},
            "no ES module (.js or .mjs)",
        ),
        ({"code": {"python": "user_code.py:run", "js": "web/app.js", "serve": ["."]}, "x": 1}, "x"),
        ({"cases": ["scans/*.dcm"]}, "'scans/*.dcm' matches no file"),
        ({"cases": ["missing.dcm"]}, "no file 'missing.dcm'"),
        (
            {"code": {"python": "user_code.py:run", "js": "web/app.js", "serve": ["elsewhere"]}},
            "no folder",
        ),
        ({"code": {"python": "user_code.py", "js": "web/app.js"}}, "is not FILE.py:FUNCTION"),
    ],
)
def test_a_bad_code_pipeline_file_names_the_file_and_the_problem(tmp_path, change, said):
    path = project(tmp_path, **change)
    with pytest.raises(PipelineSpecError) as e:
        spec.load(path)
    assert str(path) in str(e.value) and said in str(e.value)


def test_the_js_module_must_be_inside_a_served_folder(tmp_path):
    (tmp_path / "other").mkdir()
    path = project(
        tmp_path, code={"python": "user_code.py:run", "js": "web/app.js", "serve": ["other"]}
    )
    with pytest.raises(PipelineSpecError, match="outside the served folders"):
        spec.load(path)


def test_only_the_named_folders_are_served(parity_harness, tmp_path):
    """The pipeline's folders are mounted; the project's Python file next to them is not."""
    pipeline = spec.load(project(tmp_path))
    run_one(parity_harness, project(tmp_path))
    served = [p for p, root in parity_harness.server.mounts.items() if root == tmp_path / "web"]
    assert served and parity_harness.server.resolve(served[0] + "app.js") is not None
    assert parity_harness.server.resolve(served[0] + "../user_code.py") is None
    assert pipeline.serve == (tmp_path / "web",)


def test_a_pipeline_file_runs_on_its_own_cases(tmp_path):
    suite = load_suite(project(tmp_path, cases=[str(SCAN), "pydicom:CT_small.dcm"]))
    assert [c.id for c in suite.cases] == ["synthetic_12bit_signed.dcm", "pydicom:CT_small.dcm"]
    assert all(isinstance(c.load(), cases.Case) for c in suite.cases)


OPS_PY = """
import numpy as np

def scale(x, factor, offset=0.0):
    return x.astype(np.float32) * np.float32(factor) + np.float32(offset)
"""
OPS_JS = """
import * as tf from '@tensorflow/tfjs';

export function scale(x, { factor, offset = 0 }) {
  return tf.cast(x, 'float32').mul(factor).add(offset);
}
export function shifted(x, { factor, offset = 0 }) {
  return tf.cast(x, 'float32').mul(factor).add(offset + 1);
}
export async function notATensor(x) {
  return [1, 2];
}
"""


def ops_pipeline(tmp_path: Path, js_export: str = "scale", steps=None) -> Path:
    (tmp_path / "web").mkdir(exist_ok=True)
    (tmp_path / "my_ops.py").write_text(textwrap.dedent(OPS_PY))
    (tmp_path / "web" / "ops.js").write_text(textwrap.dedent(OPS_JS))
    pipeline = {
        "name": "custom",
        "ops": {"scale": {"python": "my_ops.py:scale", "js": f"web/ops.js#{js_export}"}},
        "steps": steps
        or [
            {"name": "first", "op": "scale", "params": {"factor": 0.5}},
            {"name": "second", "op": "scale", "params": {"factor": 2.0, "offset": 3.0}},
        ],
        "cases": [{"dicom": str(SCAN), "stats": None}],
    }
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(pipeline))
    return path


def test_parity_a_custom_op_runs_chained_and_isolated(parity_harness, tmp_path):
    run = run_one(parity_harness, ops_pipeline(tmp_path))
    assert run.passed, run.reason
    for stage in run.stages[1:]:
        assert (stage.verdict, stage.own_verdict) == ("pass", "pass"), stage.name


def test_parity_a_wrong_custom_op_is_where_it_diverges_and_the_next_passes_alone(
    parity_harness, tmp_path
):
    run = run_one(parity_harness, ops_pipeline(tmp_path, js_export="shifted"))
    first, second = run.stages[1:]
    assert run.first_divergence == "first"
    assert (first.own_verdict, first.chained.max_abs) == ("fail", 1.0)
    assert (second.verdict, second.own_verdict) == ("fail", "fail")  # shifted again, by itself
    # nothing in the catalogue knows this op: its two arrays say what the relation is
    assert first.hints == [{"kind": "offset", "text": "js == python + 1", "source": "symptom"}]


def test_parity_a_tap_that_differs_gets_the_relation_its_arrays_show(parity_harness, tmp_path):
    js = JS_OK.replace(
        "tf.tensor1d(Float32Array.from(data)).div(255)", "tf.tensor1d(Float32Array.from(data))"
    )
    run = run_one(parity_harness, project(tmp_path, js=js))
    assert run.first_divergence == "scaled"
    scaled = run.stages[-1]
    assert scaled.hints[0]["text"] == "js == python x 255", scaled.hints
    (tmp_path / "ok").mkdir()
    passing = run_one(parity_harness, project(tmp_path / "ok"))
    assert passing.passed and all(not s.hints for s in passing.stages)


def test_parity_a_custom_op_that_returns_no_tensor_is_named(parity_harness, tmp_path):
    run = run_one(parity_harness, ops_pipeline(tmp_path, js_export="notATensor"))
    assert run.status == "error"
    assert "the custom op 'scale' returned an Array, not a tf.Tensor" in run.reason
    # nothing comparable came back: an error of its step, never a failed stage of numbers
    assert all(s.verdict != "fail" for s in run.stages)


@pytest.mark.parametrize(
    ("steps", "said"),
    [
        ([{"op": "scale", "params": {"factor": 1, "gain": 2}}], "takes no setting gain"),
        ([{"op": "scale"}], "needs the setting(s) factor"),
        ([{"op": "sharpen"}], "'sharpen' is not in the catalogue nor the file's ops"),
    ],
)
def test_a_custom_op_step_with_wrong_settings_is_named(tmp_path, steps, said):
    path = ops_pipeline(tmp_path, steps=steps)
    with pytest.raises(PipelineSpecError) as e:
        spec.load(path)
    assert str(path) in str(e.value) and "steps[0]" in str(e.value) and said in str(e.value)


def test_a_custom_op_cannot_take_a_catalogue_name(tmp_path):
    path = ops_pipeline(tmp_path)
    doc = json.loads(path.read_text())
    doc["ops"] = {"resize": doc["ops"]["scale"]}
    path.write_text(json.dumps(doc))
    with pytest.raises(
        PipelineSpecError, match=r"ops\.resize: the catalogue has an op of that name"
    ):
        spec.load(path)


def test_parity_code_that_stalls_between_taps_is_an_error_after_its_last_tap(
    parity_harness, tmp_path
):
    """`timeout` bounds the time before the first tap, between taps and after the last, on
    each side: each stall is that run's error, naming the side and the last tap reached."""
    python = PYTHON_OK.replace('tap("scaled"', '__import__("time").sleep(30)\n    tap("scaled"')
    slow_py = project(tmp_path / "py", python=python, timeout=2)
    run = run_one(parity_harness, slow_py)
    assert run.status == "error"
    assert "Python code (user_code.py:run) after tap 'bytes' did not finish within 2 s" in (
        run.reason
    )
    js = JS_OK.replace(
        "tap('scaled'",
        "{ const end = Date.now() + 600000; while (Date.now() < end) {} }\n  tap('scaled'",
    )
    slow_js = project(tmp_path / "js", js=js, timeout=2)
    run = run_one(parity_harness, slow_js)
    assert run.status == "error"
    assert "js: the code after tap 'bytes' did not finish within 2 s (--timeout)" in run.reason
    # the page, closed, took its taps with it: the error is placed after the last tap it said
    scaled = next(s for s in run.stages if s.name == "scaled")
    assert scaled.verdict == "error" and "did not finish" in scaled.message
