"""Verdicts the user can trust, through the real page: nothing passes that was not compared, and
values are read by the tensor's own dtype on every backend."""

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.orchestrate.suite import bundled_case
from harness.report.wording import cell, outcome
from harness.specs import spec

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
    assert (by["to_float"].dtype, by["to_float"].chained.max_abs) == ("float32", 0.0)
    assert (by["bool_to_int"].dtype, by["bool_to_int"].chained.max_abs) == ("int32", 0.0)
    assert all(s.own_error_class is None for s in run.stages)  # a tap has no own (isolated) run


# the scan's stored values, decoded in each runtime and cast to float32
DECODE_CAST = [
    {"name": "decode", "op": "decode"},
    {"name": "cast", "op": "cast", "params": {"dtype": "float32"}},
]


@pytest.mark.parametrize("backend", SHARING)
def test_parity_the_catalogue_cast_after_decode_agrees(parity_harness, write_json, backend):
    path = write_json(
        "cast.json",
        {
            "name": "cast",
            "steps": DECODE_CAST,
            "cases": [{"file": str(SCAN)}],
        },
    )
    run = run_file(parity_harness, path, backend)
    assert run.passed, run.reason
    cast = run.stages[-1]
    assert (cast.verdict, cast.own_verdict, cast.chained.max_abs) == ("pass", "pass", 0.0)


def test_parity_a_tap_the_harness_cannot_read_is_an_error_not_a_pass(parity_harness, tmp_path):
    python = CASTS_PY + '    tap("complex", np.zeros(2, np.float32))\n'
    js = CASTS_JS.replace("}\n", "  tap('complex', tf.complex([1, 2], [3, 4]));\n}\n", 1)
    run = run_file(parity_harness, code_project(tmp_path, python, js), "cpu")
    assert run.status == "error" and not run.passed
    assert "the page cannot send tap 'complex'" in run.reason and "complex64" in run.reason
    assert "threw" not in run.reason  # the user's code ran to its end
    assert {s.name: s.verdict for s in run.stages}["complex"] == "error"


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


# Float budgets through the real pages: float arithmetic passes, planted semantics fail.
OPS_PY = """
import numpy as np

def mean_all(x):
    return np.asarray([np.mean(x.astype(np.float64))])

def scale(x, factor):
    return x.astype(np.float32) * np.float32(factor)
"""
OPS_JS = """
import * as tf from '@tensorflow/tfjs';

export function mean_all(x) { return tf.mean(tf.cast(x, 'float32')).reshape([1]); }
export function scale(x, { factor }) { return tf.cast(x, 'float32').mul(factor); }
"""


def ops_pipeline(tmp_path: Path, step: dict) -> spec.Pipeline:
    (tmp_path / "web").mkdir(exist_ok=True)
    (tmp_path / "ops.py").write_text(textwrap.dedent(OPS_PY))
    (tmp_path / "web" / "ops.js").write_text(textwrap.dedent(OPS_JS))
    ops = {n: {"python": f"ops.py:{n}", "js": f"web/ops.js#{n}"} for n in ("mean_all", "scale")}
    doc = {"name": "ops", "ops": ops, "steps": [step]}
    return spec.parse(doc, str(tmp_path / "p.json"))


def test_parity_a_long_float32_reduction_passes_as_float32_drift(parity_harness, tmp_path):
    from harness.specs.cases import Case

    x = np.random.default_rng(0).uniform(0, 1000, (1000, 1000)).astype(np.float32)
    pipeline = ops_pipeline(tmp_path, {"name": "mean", "op": "mean_all"})
    run = parity_harness.run(pipeline, Case("u", x), "chromium", "wasm")
    mean = run.stages[-1]
    assert mean.verdict == "fail"  # 1e-5 of a sequential float32 sum of 1e6 values: > atol
    assert (mean.own_verdict, mean.own_error_class) == ("pass", "float32"), mean.isolated_message
    assert run.passed
    assert outcome(run).startswith("PASS (float32 drift only: output off by ")


def test_parity_a_std_off_by_1e_5_fails_at_normalize(parity_harness):
    pipeline = spec.load(REPO / "fixtures" / "pipelines" / "seed-matched.json")
    case = bundled_case("examples_overlay")
    steps = parity_harness.js_steps(pipeline, case)
    steps[0]["params"]["std"] *= 1 + 1e-5
    run = parity_harness.run(pipeline, case, "chromium", "cpu", js_steps=steps)
    assert run.first_divergence == "normalize" and run.unexpected[0] == "normalize"
    normalize = run.stages[1]
    assert normalize.own_error_class == "semantic" and normalize.budget["ratio"] > 5
    assert normalize.chained.max_abs < 1e-5  # a 1e-5 absolute tolerance let it pass


@pytest.mark.parametrize(
    ("std_factor", "expected"), [(1.0, ("pass", "float16")), (1 + 1e-3, ("fail", "semantic"))]
)
def test_parity_float16_pages_excuse_float16_rounding_not_a_wrong_std(
    parity_harness, std_factor, expected
):
    normalize = {"op": "normalize", "params": {"mean": "$mean", "std": "$std"}}
    pipeline = spec.parse({"name": "normalize", "steps": [normalize]})
    case = bundled_case("examples_overlay")
    steps = parity_harness.js_steps(pipeline, case)
    steps[0]["params"]["std"] *= std_factor
    run = parity_harness.run(pipeline, case, "chromium", "webgl:f16", js_steps=steps)
    normalize = run.stages[1]
    assert (normalize.own_verdict, normalize.own_error_class) == expected, normalize.budget


def test_parity_float16_overflow_is_float16_range(parity_harness, tmp_path):
    from harness.specs.cases import Case

    x = np.random.default_rng(0).uniform(0, 100, (32, 32)).astype(np.float32)
    step = {"name": "scale", "op": "scale", "params": {"factor": 1000.0}}
    run = parity_harness.run(ops_pipeline(tmp_path, step), Case("u", x), "chromium", "webgl:f16")
    scale = run.stages[-1]
    assert (scale.own_verdict, scale.own_error_class) == ("fail", "float16")
    assert scale.isolated_message.startswith("float16 range: this stage holds values past")


LABEL_PY = """
import sys
from pathlib import Path

import numpy as np

def run(path, tap):
    tap("label", np.array([1.0 if Path(path).parent.name == "cats" else 2.0], np.float32))
    if Path(path).parent.name == "exits":
        sys.exit(0)
"""
LABEL_JS = """
import * as tf from '@tensorflow/tfjs';

export async function run(file, tap) { tap('label', tf.tensor1d([1])); }
"""


def test_parity_same_bytes_at_two_paths_are_two_python_runs(parity_harness, tmp_path):
    """The user's function gets the path (a folder can be the label): the same bytes in
    cats/ and dogs/ are two references, and dogs/ fails here."""
    for folder in ("cats", "dogs", "exits"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "001.dcm").write_bytes(SCAN.read_bytes())
    path = code_project(tmp_path, LABEL_PY, LABEL_JS, cases=["*/001.dcm"])
    pipeline = spec.load(path)
    runs = {
        source.id: parity_harness.run(pipeline, source.load(), "chromium", "cpu")
        for source in pipeline.cases
    }
    assert runs["cats/001.dcm"].passed and not runs["dogs/001.dcm"].passed
    exits = runs["exits/001.dcm"]  # sys.exit() in the user's code ends that run, not the harness
    assert exits.status == "error" and "raised SystemExit after tap 'label'" in exits.reason


NAN_PY = """
import numpy as np

def run(path, tap):
    tap("logits", np.zeros((4, 5), np.float32))
"""
NAN_JS = """
import * as tf from '@tensorflow/tfjs';

export async function run(file, tap) {
  const values = new Float32Array(20);
  values[13] = NaN;
  values[1] = 0.0036;
  tap('logits', tf.tensor2d(values, [4, 5]));
}
"""


def test_parity_a_nan_from_the_page_is_named_by_index_and_side(parity_harness, tmp_path):
    run = run_file(parity_harness, code_project(tmp_path, NAN_PY, NAN_JS), "cpu")
    [logits] = run.stages
    assert logits.message.startswith(
        "NaN/Inf disagree at 1 of 20 element(s), first at index [2, 3] (python 0.0, js nan)"
    )
    assert cell(logits) == "✗ js NaN at [2,3]" and logits.min_passing_tolerance is None


@pytest.mark.parity
def test_parity_a_setting_the_file_gives_each_side_differently_is_named(parity_harness, write_json):
    """A std written once for Python and again, slightly differently, for JS: the hint reads the
    pipeline file, instead of searching precisions that cannot explain it."""
    path = write_json(
        "std.json",
        {
            "name": "std",
            "steps": [
                *DECODE_CAST,
                {
                    "name": "normalize",
                    "op": "normalize",
                    "params": {"mean": 100.0, "std": 1091.15},
                    "js": {"std": 1092.24},
                },
            ],
            "cases": [{"file": str(SCAN)}],
        },
    )
    run = run_file(parity_harness, path, "cpu")
    assert run.first_divergence == "normalize", outcome(run)
    [hint] = next(s for s in run.stages if s.name == "normalize").hints
    assert hint["source"] == "pipeline file"
    assert "python std=1091.15, js std=1092.24" in hint["text"]
