"""Comparisons as pairs: every candidate page against a reference that is Python (the default
plan) or another page (`--reference wasm`: backend vs backend), through the same code."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.core.results import Report
from harness.orchestrate.options import RunOptions
from harness.specs.variants import PYTHON, Side, candidates, parse_reference, targets
from tests.test_cli import tfjs_parity
from tests.test_results import a_report

REPO = Path(__file__).parent.parent
SCAN = REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("python", "python"),
        ("wasm", "chromium:wasm"),
        (" webgl:f16 ", "chromium:webgl:f16"),
        ("chromium:webgpu", "chromium:webgpu"),
        ("chromium:webgl:nocpuforward", "chromium:webgl:nocpuforward"),
        ("firefox:wasm", "firefox:wasm"),
        ("webkit:webgl:f16", "webkit:webgl:f16"),
    ],
)
def test_a_reference_is_python_or_a_browser_and_backend(text, name):
    side = parse_reference(text)
    assert side.name == name
    assert side.is_python == (name == PYTHON)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("gpu", "unknown backend 'gpu'"),
        ("chromium", "a browser needs a backend"),
        ("chromium:webgl:turbo", "unknown option 'turbo' for webgl"),
        ("safari:wasm", "unknown backend 'safari'"),
        ("", "unknown backend ''"),
    ],
)
def test_a_reference_that_is_neither_is_refused_saying_why(text, said):
    with pytest.raises(ValueError, match="reference") as e:
        parse_reference(text)
    assert said in str(e.value)


def test_the_reference_page_is_left_out_of_its_own_browser_only():
    """`chromium:webgl` as the reference: Chromium's webgl is not compared with itself, every
    other browser's webgl is (does Firefox's webgl agree with Chromium's)."""
    ref = parse_reference("chromium:webgl")
    assert targets(["chromium", "firefox"], ["webgl", "wasm"], ref) == [
        ("chromium", "wasm"),
        ("firefox", "webgl"),
        ("firefox", "wasm"),
    ]
    assert candidates(["webgl", "wasm"], ref, ["chromium", "firefox"]) == ["webgl", "wasm"]
    assert candidates(["webgl", "wasm"], ref, ["chromium"]) == ["wasm"]
    assert candidates(["webgl"], ref, ["chromium"]) == []  # nothing left: a usage error
    python = parse_reference("python")
    assert targets(["webkit"], ["cpu"], python) == [("webkit", "cpu")]


def test_the_options_carry_the_reference_as_a_side():
    assert RunOptions().side == Side(None, None)
    assert RunOptions(reference="wasm").side == Side("chromium", "wasm")
    with pytest.raises(ValueError, match="unknown backend"):
        RunOptions(reference="tpu")


def test_the_reference_itself_is_not_a_candidate_and_alone_it_is_a_usage_error(tmp_path):
    done = tfjs_parity("run", "--reference", "wasm", "--backend", "wasm", cwd=tmp_path)
    assert done.returncode == 2
    assert "it is the only backend asked for" in done.stderr
    done = tfjs_parity("run", "--reference", "webgl:turbo", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown option 'turbo' for webgl" in done.stderr


def test_a_report_says_what_each_run_was_compared_with_and_reads_it_back():
    data = a_report().to_dict()
    data["cases"][0]["runs"][0]["reference"] = "chromium:wasm"
    assert Report.from_dict(data).cases[0].runs[0].reference == "chromium:wasm"
    del data["cases"][0]["runs"][0]["reference"]  # a report from before pairs: Python
    assert Report.from_dict(data).cases[0].runs[0].reference == PYTHON
    data["cases"][0]["runs"][0]["reference"] = "tpu"
    with pytest.raises(ValueError, match="reference"):
        Report.from_dict(data)


OPS_PY = """
import numpy as np

def scale(x, factor):
    return x.astype(np.float32) * np.float32(factor)
"""
# `shifted` is off by one on the cpu backend only: wasm, and Python, agree with `scale`
OPS_JS = """
import * as tf from '@tensorflow/tfjs';

export function scale(x, { factor }) {
  return tf.cast(x, 'float32').mul(factor);
}
export function shifted(x, { factor }) {
  const y = tf.cast(x, 'float32').mul(factor);
  return tf.getBackend() === 'cpu' ? y.add(1) : y;
}
"""


def planted_fault_project(path: Path, *more: dict) -> Path:
    """A pipeline file at `path` (its ops beside it) whose step `second` is off by one on the
    cpu backend only (OPS_JS's `shifted`): `first`, `second`, then the steps given."""
    (path.parent / "web").mkdir(parents=True, exist_ok=True)
    (path.parent / "ops.py").write_text(textwrap.dedent(OPS_PY))
    (path.parent / "web" / "ops.js").write_text(textwrap.dedent(OPS_JS))
    pipeline = {
        "name": path.stem,
        "ops": {
            "scale": {"python": "ops.py:scale", "js": "web/ops.js#scale"},
            "shift": {"python": "ops.py:scale", "js": "web/ops.js#shifted"},
        },
        "steps": [
            {"name": "first", "op": "scale", "params": {"factor": 0.5}},
            {"name": "second", "op": "shift", "params": {"factor": 2.0}},
            *more,
        ],
        "cases": [{"dicom": str(SCAN), "stats": None}],
    }
    path.write_text(json.dumps(pipeline))
    return path


def test_parity_backend_vs_backend_finds_where_one_backend_leaves_the_other(tmp_path):
    """cpu against wasm as the reference: the stage cpu computes differently is the first
    divergence; the stage after it, fed wasm's values in its isolated run, passes on its own;
    the Python side is not what cpu is judged against, so nothing is hinted from it."""
    planted_fault_project(
        tmp_path / "pairs.json", {"name": "third", "op": "scale", "params": {"factor": 0.25}}
    )
    args = ("run", "pairs.json", "--backend", "cpu", "--no-repeat", "--out", "out")
    done = tfjs_parity(*args, "--reference", "wasm", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    report = Report.from_dict(json.loads((tmp_path / "out" / "report.json").read_text()))
    ((_, run),) = report.all_runs()
    assert (run.browser, run.backend, run.reference) == ("chromium", "cpu", "chromium:wasm")
    assert run.status == "ok" and run.first_divergence == "second"
    stages = {s.name: s for s in run.stages}
    assert (stages["first"].verdict, stages["first"].own_verdict) == ("pass", "pass")
    assert stages["first"].chained.max_abs == 0.0  # the same float32 op on both pages
    second = stages["second"]
    assert (second.verdict, second.own_verdict) == ("fail", "fail")
    assert second.chained.max_abs == 1.0 and second.isolated.max_abs == 1.0
    third = stages["third"]
    assert (third.verdict, third.own_verdict) == ("fail", "pass")  # it carries the +1 only
    assert all(not s.hints for s in run.stages)  # hints explain JS against Python's ops
    assert "compared with chromium:wasm" in done.stdout
    # which page Python agrees with where they diverge: the reference, not cpu
    said = run.against_python
    assert said["stage"] == "second"
    assert (said["reference"]["verdict"], said["reference"]["max_abs"]) == ("pass", 0.0)
    assert (said["candidate"]["verdict"], said["candidate"]["max_abs"]) == ("fail", 1.0)
    assert "this page diverges from Python, not the reference" in done.stdout
    # the same page against Python: the same stage, since wasm agrees with Python there
    done = tfjs_parity(*args, cwd=tmp_path)
    ((_, run),) = Report.from_dict(
        json.loads((tmp_path / "out" / "report.json").read_text())
    ).all_runs()
    assert (run.reference, run.first_divergence) == (PYTHON, "second")
    assert "compared with" not in done.stdout


def test_a_variant_is_the_reference_however_its_options_are_spelt():
    from harness.orchestrate.orchestrator import Harness
    from harness.specs.variants import parse_variant

    side = parse_reference("wasm:nosimd:nothreads")
    assert side.is_page("chromium", "wasm:nothreads:nosimd")
    assert not side.is_page("chromium", "wasm:nosimd")
    with pytest.raises(ValueError, match="option 'nosimd' given twice"):
        parse_variant("wasm:nosimd:nosimd")
    with Harness(reference="wasm:nothreads:nosimd") as h:
        assert h.options.side.name == "chromium:wasm:nosimd:nothreads"
        with pytest.raises(ValueError, match="is the reference"):
            h.run(None, None, "chromium", "wasm:nosimd:nothreads")  # refused before it runs


def test_pytest_refuses_a_reference_that_is_every_backend_asked_for(pytester):
    pytester.makepyfile(test_nothing="def test_x():\n    pass\n")
    result = pytester.runpytest("--parity-reference", "wasm", "--parity-backend", "wasm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--parity-reference chromium:wasm: it is the only backend*"])


def test_a_tolerance_set_for_either_page_applies_whichever_side_it_is_on():
    import numpy as np

    from harness.compare.tolerance import parse_override, policy

    wider = [parse_override("resize@webgl:f16:atol=0.5")]
    step = {"backends": {"webgl:f16": {"rtol": 0.25}}}
    on_candidate = policy(np.dtype("float32"), "float16", "resize", "webgl:f16", step, wider)
    on_reference = policy(np.dtype("float32"), "float16", "resize", "cpu", step, wider, "webgl:f16")
    assert (on_candidate.atol, on_candidate.rtol) == (0.5, 0.25)
    assert (on_reference.atol, on_reference.rtol) == (0.5, 0.25)
    assert policy(np.dtype("float32"), "float32", "resize", "cpu", step, wider).atol != 0.5


def test_a_failing_runs_explanation_names_the_page_it_was_compared_with():
    from harness.core.results import RunResult
    from harness.report.wording import explain

    run = RunResult("chromium", "cpu", "ok", reference="chromium:wasm")
    assert "compared with chromium:wasm, not Python" in explain(run)
    assert "compared with" not in explain(RunResult("chromium", "cpu", "ok"))


# `offOnWasm` is off by one on wasm only; `plusHalf` adds 0.5 on every page, which Python's
# side of the op does not: the pages agree with each other, not with Python
MORE_JS = """
export function offOnWasm(x, { factor }) {
  const y = tf.cast(x, 'float32').mul(factor);
  return tf.getBackend() === 'wasm' ? y.add(1) : y;
}
export function plusHalf(x, { factor }) {
  return tf.cast(x, 'float32').mul(factor).add(0.5);
}
"""


def _pipeline(tmp_path: Path, name: str, js_export: str) -> Path:
    (tmp_path / "web").mkdir(exist_ok=True)
    (tmp_path / "ops.py").write_text(textwrap.dedent(OPS_PY))
    (tmp_path / "web" / "ops.js").write_text(textwrap.dedent(OPS_JS) + textwrap.dedent(MORE_JS))
    doc = {
        "name": name,
        "ops": {
            "scale": {"python": "ops.py:scale", "js": "web/ops.js#scale"},
            "other": {"python": "ops.py:scale", "js": f"web/ops.js#{js_export}"},
        },
        "steps": [
            {"name": "first", "op": "scale", "params": {"factor": 0.5}},
            {"name": "second", "op": "other", "params": {"factor": 2.0}},
        ],
        "cases": [{"dicom": str(SCAN)}],
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


def test_parity_each_pipeline_gets_its_own_reference_page_run_and_budgets_only_where_they_hold(
    tmp_path,
):
    """Two pipelines alike on the Python side but not in the page get a reference page run
    each, in either order. A float budget derived from Python's op bounds two pages only where
    the reference page computes that op as Python does: `plusHalf` (both pages add 0.5 that
    Python does not) is judged by its tolerance policy, `first` by its budget."""
    from harness.orchestrate.orchestrator import Harness
    from harness.specs import spec

    good = spec.load(_pipeline(tmp_path, "good", "scale"))
    off = spec.load(_pipeline(tmp_path, "off", "offOnWasm"))
    half = spec.load(_pipeline(tmp_path, "half", "plusHalf"))
    case = good.cases[0].load()
    with Harness(reference="wasm", repeat=False, hints=False) as h:
        outcomes = [h.run(p, case, "chromium", "cpu") for p in (good, off, good, half)]
    assert [r.passed for r in outcomes] == [True, False, True, True]
    assert outcomes[1].first_divergence == "second"
    # there the reference page (wasm) is the one off Python, and cpu agrees with Python
    said = outcomes[1].against_python
    assert (said["reference"]["verdict"], said["candidate"]["verdict"]) == ("fail", "pass")
    assert outcomes[0].against_python is None  # a run that passes has nothing to tell apart
    assert all(s.budget is not None for s in outcomes[0].stages[1:])  # the same op as Python's
    stages = {s.name: s for s in outcomes[3].stages}
    assert stages["first"].budget is not None
    assert stages["second"].budget is None and stages["second"].own_verdict == "pass"


def test_the_candidates_own_tolerance_wins_over_the_references_whatever_the_order():
    import numpy as np

    from harness.compare.tolerance import parse_override, policy

    f32 = np.dtype("float32")
    for flags in (["s@cpu:atol=1e-5", "s@wasm:atol=2"], ["s@wasm:atol=2", "s@cpu:atol=1e-5"]):
        overrides = [parse_override(t) for t in flags]
        assert policy(f32, "float32", "s", "cpu", None, overrides, "wasm").atol == 1e-5
    # the candidate's pipeline setting beats a command-line setting for the reference
    step = {"backends": {"cpu": {"atol": 1e-6}}}
    wasm_wide = [parse_override("s@wasm:atol=2")]
    assert policy(f32, "float32", "s", "cpu", step, wasm_wide, "wasm").atol == 1e-6
    # variants match however their options are spelt, on either side
    spelt = [parse_override("s@wasm:nothreads:nosimd:atol=2")]
    assert policy(f32, "float32", "s", "cpu", None, spelt, "wasm:nosimd:nothreads").atol == 2
    assert policy(f32, "float32", "s", "wasm:nosimd:nothreads", None, spelt).atol == 2


def test_two_pipelines_naming_ops_py_in_two_folders_have_two_python_references(tmp_path):
    from harness.orchestrate.references import reference_key
    from harness.specs import spec

    keys = []
    for folder, factor in (("a", "1"), ("b", "2")):
        (tmp_path / folder / "web").mkdir(parents=True)
        (tmp_path / folder / "ops.py").write_text(f"def scale(x):\n    return x * {factor}\n")
        (tmp_path / folder / "web" / "ops.js").write_text(
            "export function scale(x) { return x; }\n"
        )
        doc = {
            "name": "same",
            "ops": {"scale": {"python": "ops.py:scale", "js": "web/ops.js#scale"}},
            "steps": [{"op": "scale"}],
            "cases": [{"dicom": str(SCAN)}],
        }
        (tmp_path / folder / "p.json").write_text(json.dumps(doc))
        pipeline = spec.load(tmp_path / folder / "p.json")
        keys.append(reference_key(pipeline, pipeline.cases[0].load()))
    assert keys[0] != keys[1]


OPS_OF_ONE_FILE = """
import functools

def _make(k):
    def f(x):
        return x * k
    return f

class Scale:
    def __init__(self, k):
        self.k = k
    def __call__(self, x):
        return x * self.k
    def __repr__(self):
        return "Scale"

lam1 = lambda x: x * 1
lam2 = lambda x: x * 2
one = _make(1)
two = _make(2)
c1 = Scale(1)
c2 = Scale(2)
"""


def test_each_function_of_one_file_has_a_python_reference_of_its_own(tmp_path):
    """Lambdas, closures of one factory and callable objects share a file, a code object or a
    repr: each is its own function all the same, by the name the pipeline gives it."""
    from harness.orchestrate.references import reference_key
    from harness.specs import spec

    (tmp_path / "web").mkdir()
    (tmp_path / "ops.py").write_text(OPS_OF_ONE_FILE)
    (tmp_path / "web" / "ops.js").write_text("export function f(x) { return x; }\n")
    names = ["lam1", "lam2", "one", "two", "c1", "c2"]
    keys, code_keys = set(), set()
    for name in names:
        doc = {
            "name": "n",
            "ops": {"op": {"python": f"ops.py:{name}", "js": "web/ops.js#f"}},
            "steps": [{"op": "op"}],
            "cases": [{"dicom": str(SCAN)}],
        }
        (tmp_path / "p.json").write_text(json.dumps(doc))
        pipeline = spec.load(tmp_path / "p.json")
        keys.add(reference_key(pipeline, pipeline.cases[0].load()))
        code = {"name": "c", "code": {"python": f"ops.py:{name}", "js": "web/ops.js#f"}}
        (tmp_path / "c.json").write_text(json.dumps({**code, "cases": [{"file": str(SCAN)}]}))
        coded = spec.load(tmp_path / "c.json")
        code_keys.add(reference_key(coded, coded.cases[0].load()))
    assert len(keys) == len(names) and len(code_keys) == len(names)
