"""Recorded references: the Python side written once to a store and replayed where there is no
TensorFlow, stale records named by what changed, and re-recording that fails the run unless
accepted."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.compare.budget import Terms
from harness.core.outputs import RuntimeOutput, StageFailure
from harness.golden import store
from harness.golden.keys import components_key, reference_components, reference_key
from harness.golden.models import MODELS
from harness.specs import spec
from harness.specs.code_pipeline import UserPythonNotLoaded, without_user_python
from tests.test_cli import tfjs_parity

REPO = Path(__file__).parent.parent
SCAN = REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"

# the user's Python imports TensorFlow at the top, as preprocessing modules do; importing it
# leaves a mark, so a test can tell that replay never ran it
OPS_PY = """
import pathlib
pathlib.Path(__file__).with_name("imported.mark").write_text("imported")
import numpy as np
import tensorflow  # noqa: F401  (replay must not get here)

def scale(x, factor):
    return x.astype(np.float32) * np.float32(factor)
"""
OPS_PY_LIGHT = """
import pathlib
pathlib.Path(__file__).with_name("imported.mark").write_text("imported")
import numpy as np

def scale(x, factor):
    return x.astype(np.float32) * np.float32(factor)
"""
OPS_JS = """
import * as tf from '@tensorflow/tfjs';

export function scale(x, { factor }) {
  return tf.cast(x, 'float32').mul(factor);
}
"""


def a_project(root: Path, ops_py: str = OPS_PY_LIGHT) -> Path:
    """A user's project as a checkout holds it: a pipeline with a custom op (Python and JS)
    and catalogue steps, and its case, all by relative paths."""
    (root / "web").mkdir(parents=True)
    (root / "scans").mkdir()
    shutil.copy(SCAN, root / "scans" / "scan.dcm")
    (root / "ops.py").write_text(textwrap.dedent(ops_py))
    (root / "web" / "ops.js").write_text(textwrap.dedent(OPS_JS))
    doc = {
        "name": "scaled",
        "ops": {"scale": {"python": "ops.py:scale", "js": "web/ops.js#scale"}},
        "steps": [
            {"name": "scale", "op": "scale", "params": {"factor": 0.5}},
            {"name": "tile", "op": "tile", "params": {"reps": [1, 1, 3]}},
        ],
        "cases": [{"dicom": "scans/scan.dcm", "stats": None}],
    }
    (root / "p.json").write_text(json.dumps(doc))
    return root / "p.json"


def _output() -> tuple[RuntimeOutput, dict[str, Terms]]:
    stages = {
        "input/left": np.arange(6, dtype=np.int32).reshape(2, 3),
        "input/right": np.array([True, False]),
        "model/conv 1": np.linspace(0, 1, 12).reshape(3, 4),  # float64, '/' and a space
        "model": np.float32([[0.25, 0.75]]),
    }
    out = RuntimeOutput(
        stages,
        {"after": StageFailure("after", "Python after failed: boom", "Traceback ...")},
        {"compute": 0.5},
        composites={"input": {"left": "input/left", "right": "input/right"}},
    )
    terms = {
        "model/conv 1": Terms(np.ones((3, 4)), 9, "conv", "relu", np.zeros((3, 4)), True),
        "model": Terms(None, 0, "copy", composite=True),
    }
    return out, terms


def test_a_record_reads_back_as_it_was_written(tmp_path):
    out, terms = _output()
    components = {"the case's input": "a", "step 'model'": "b"}
    key = components_key(components)
    path = store.write(tmp_path, "p/1", "scans/a b.dcm", components, key, out, terms, {"x": 1})
    assert path.is_file() and path.is_relative_to(tmp_path / "records")
    got = store.read(tmp_path, "p/1", "scans/a b.dcm", components)
    assert list(got.output.stages) == list(out.stages)
    for name, a in out.stages.items():
        b = got.output.stages[name]
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b), name
    assert got.output.failures == out.failures
    assert got.output.composites == out.composites
    assert got.provenance == {"x": 1} and got.key == key
    assert got.terms is not None and set(got.terms) == set(terms)
    conv = got.terms["model/conv 1"]
    assert (conv.length, conv.basis, conv.activation, conv.estimated) == (9, "conv", "relu", True)
    assert np.array_equal(conv.magnitude, np.ones((3, 4)))
    assert np.array_equal(conv.position, np.zeros((3, 4)))
    assert got.terms["model"].magnitude is None and got.terms["model"].composite
    # found by what it depends on, whatever the pipeline and case are called now
    assert store.read(tmp_path, "renamed", "other.dcm", components).key == key
    # two cases named alike in two folders, with other inputs, are two records
    other = {**components, "the case's input": "A"}
    store.write(tmp_path, "p/1", "scans/a b.dcm", other, components_key(other), out, None, {})
    assert store.read(tmp_path, "p/1", "scans/a b.dcm", components).terms is not None
    assert store.read(tmp_path, "p/1", "scans/a b.dcm", other).terms is None
    # what `record` writes replaces what earlier runs wrote under the same names
    store.prune(tmp_path, "p/1", "scans/a b.dcm", {path})
    with pytest.raises(store.StaleRecord, match="the case's input changed"):
        store.read(tmp_path, "p/1", "scans/a b.dcm", other)


def test_terms_are_kept_in_float32_never_below_what_was_computed(tmp_path):
    out, _ = _output()
    magnitude = np.random.default_rng(0).normal(size=(3, 4)) * 1e3
    terms = {"model/conv 1": Terms(magnitude, 9, "conv")}
    components = {"c": "1"}
    store.write(tmp_path, "p", "c", components, components_key(components), out, terms, {})
    got = store.read(tmp_path, "p", "c", components).terms["model/conv 1"].magnitude
    assert got.dtype == np.float32
    assert np.all(np.abs(got.astype(np.float64)) >= np.abs(magnitude))
    assert np.max(np.abs(got - magnitude) / np.abs(magnitude)) < 2**-23


def test_a_stale_record_says_what_changed_and_a_missing_one_says_which(tmp_path):
    out, terms = _output()
    then = {"the case's input": "a", "step 'resize'": "b", "step 'old'": "c"}
    provenance = {"recorded": "2026-12-01T10:00Z"}
    key = components_key(then)
    store.write(tmp_path, "p", "c.dcm", then, key, out, terms, provenance)
    now = {"the case's input": "a", "step 'resize'": "B", "step 'new'": "d"}
    with pytest.raises(store.StaleRecord) as e:
        store.read(tmp_path, "p", "c.dcm", now)
    said = str(e.value)
    assert "pipeline 'p', case 'c.dcm' is stale" in said
    assert "step 'resize' changed" in said and "step 'new' was added" in said
    assert "step 'old' was removed" in said and "the case's input" not in said
    assert "2026-12-01T10:00Z" in said
    with pytest.raises(store.MissingRecord, match=r"pipeline 'p', case 'other\.dcm'"):
        store.read(tmp_path, "p", "other.dcm", now)
    store.record_path(tmp_path, "p", "c.dcm", key).write_bytes(b"not a zip")
    with pytest.raises(store.RecordError, match="cannot be read as a record"):
        store.read(tmp_path, "p", "c.dcm", then)


@pytest.mark.parametrize(
    "meta",
    [
        [1, 2],
        {"format": store.FORMAT, "components": {"c": "1"}, "key": "K", "stages": 5},
        {"format": store.FORMAT, "components": {"c": "1"}, "key": "K", "stages": [],
         "terms": None, "failures": [{"stage": "s", "bogus": 1}], "timings": {},
         "composites": {}, "provenance": {}},
        {"format": store.FORMAT, "components": {"c": "1"}, "key": "K", "stages": [],
         "terms": None, "failures": [], "timings": [], "composites": None, "provenance": "x"},
    ],
)  # fmt: skip
def test_a_record_from_another_tool_is_said_to_be_unreadable(tmp_path, meta):
    components = {"c": "1"}
    key = components_key(components)
    if isinstance(meta, dict):
        meta["key"] = key
    path = store.record_path(tmp_path, "p", "c", key)
    path.parent.mkdir(parents=True)
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(store.RecordError, match=r"cannot be read as a record|not a record"):
        store.read(tmp_path, "p", "c", components)


def test_the_key_is_the_same_in_another_checkout_and_names_what_changed(tmp_path):
    keys, parts = [], []
    for where in ("a/checkout", "elsewhere/b"):
        pipeline = spec.load(a_project(tmp_path / where))
        case = pipeline.cases[0].load()
        keys.append(reference_key(pipeline, case))
        parts.append(reference_components(pipeline, case))
    assert keys[0] == keys[1]
    assert parts[0] == parts[1]
    # the user's code changes: a sibling module of ops.py (importable from it) is code too,
    # and so is a module of a subpackage; line endings are not
    (tmp_path / "elsewhere/b/helpers.py").write_text("K = 2\n")
    pipeline = spec.load(tmp_path / "elsewhere/b/p.json")
    changed = reference_components(pipeline, pipeline.cases[0].load())
    assert [k for k in changed if changed[k] != parts[0][k]] == ["the Python code of step 'scale'"]
    (tmp_path / "elsewhere/b/helpers.py").unlink()
    (tmp_path / "elsewhere/b/sub").mkdir()
    (tmp_path / "elsewhere/b/sub/mathx.py").write_text("K = 3\n")
    pipeline = spec.load(tmp_path / "elsewhere/b/p.json")
    changed = reference_components(pipeline, pipeline.cases[0].load())
    assert [k for k in changed if changed[k] != parts[0][k]] == ["the Python code of step 'scale'"]
    crlf = tmp_path / "a/checkout/ops.py"
    crlf.write_bytes(crlf.read_bytes().replace(b"\n", b"\r\n"))
    pipeline = spec.load(tmp_path / "a/checkout/p.json")
    assert reference_components(pipeline, pipeline.cases[0].load()) == parts[0]
    # a setting of the Python side
    doc = json.loads((tmp_path / "a/checkout/p.json").read_text())
    doc["steps"][1]["params"]["reps"] = [1, 1, 2]
    (tmp_path / "a/checkout/p.json").write_text(json.dumps(doc))
    pipeline = spec.load(tmp_path / "a/checkout/p.json")
    changed = reference_components(pipeline, pipeline.cases[0].load())
    assert [k for k in changed if changed[k] != parts[0][k]] == ["step 'tile'"]


def test_the_code_key_follows_links_and_leaves_out_what_is_no_code(tmp_path):
    """A helper folder linked in is code; a dangling link (an editor's lock), an environment,
    a report folder or a reference store under the op's folder is not."""
    from harness.specs.code_pipeline import callable_identity

    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "mathx.py").write_text("K = 1\n")
    op = tmp_path / "op"
    op.mkdir()
    (op / "ops.py").write_text("def scale(x):\n    return x\n")
    (op / "helpers").symlink_to(tmp_path / "shared")
    (op / ".#ops.py").symlink_to(op / "gone")  # dangling
    first = callable_identity(op / "ops.py", "ops.py", "scale")
    for folder, marker in (("env", "pyvenv.cfg"), ("report", "report.json")):
        (op / folder).mkdir()
        (op / folder / marker).write_text("x")
        (op / folder / "noise.py").write_text("N = 1\n")
    (op / "refs" / "records").mkdir(parents=True)
    (op / "refs" / "reference.py").write_text("R = 1\n")
    assert callable_identity(op / "ops.py", "ops.py", "scale") == first
    (tmp_path / "shared" / "mathx.py").write_text("K = 2\n")
    assert callable_identity(op / "ops.py", "ops.py", "scale") != first


def test_a_statistics_table_counts_only_where_a_step_uses_it():
    from harness.orchestrate.suite import bundled_case, bundled_pipeline

    case = bundled_case("examples_overlay.dcm")
    seed = bundled_pipeline("seed")
    other = dataclasses.replace(case, params={**case.params, "mean": case.params["mean"] + 1})
    before, after = reference_components(seed, case), reference_components(seed, other)
    assert [k for k in after if after[k] != before[k]] == ["step 'normalize'"]
    tiles = spec.parse({"name": "t", "steps": [{"op": "tile", "params": {"reps": [1, 1, 3]}}]})
    assert reference_components(tiles, case) == reference_components(tiles, other)


def test_replaying_reads_pipelines_without_importing_the_users_python(tmp_path):
    path = a_project(tmp_path, OPS_PY)
    with without_user_python():
        pipeline = spec.load(path)
    assert not (tmp_path / "imported.mark").exists()
    op = pipeline.steps[0].custom
    assert op is not None
    with pytest.raises(UserPythonNotLoaded, match=r"ops\.py:scale is not loaded"):
        op.python_function(np.zeros(2), factor=1.0)
    # the identity is the one the imported function has (ops.py without the TF import here)
    light = a_project(tmp_path / "light")
    (tmp_path / "light" / "ops.py").write_text(textwrap.dedent(OPS_PY))
    with without_user_python():
        replayed = spec.load(light)
    (tmp_path / "light" / "ops.py").write_text(textwrap.dedent(OPS_PY_LIGHT))
    imported = spec.load(light)
    assert (tmp_path / "light" / "imported.mark").exists()
    r, i = replayed.steps[0].custom, imported.steps[0].custom
    assert r is not None and i is not None
    assert r.python_identity.split(":")[0] == i.python_identity.split(":")[0] == "ops.py"
    (tmp_path / "light" / "ops.py").write_text(textwrap.dedent(OPS_PY))
    with without_user_python():
        again = spec.load(light)
    assert again.steps[0].custom.python_identity == r.python_identity


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--references-accept"], "--references-accept goes with --references-update"),
        (["--references-update"], "--references-update goes with --references DIR"),
        (["--references", "nowhere"], "--references nowhere: no such folder"),
    ],
)
def test_replay_options_that_do_not_fit_are_usage_errors(tmp_path, args, said):
    done = tfjs_parity("run", *args, "--out", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr


NO_TF = """
import sys
for name in ("tensorflow", "tf_keras", "tensorflowjs", "tensorflow_decision_forests"):
    sys.modules[name] = None  # importing any of them raises ImportError
from harness.cli import main
code = main(sys.argv[1:])
assert sys.modules.get("tensorflow") is None, "TensorFlow was imported"
sys.exit(code)
"""


def _run_without_tf(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_TF, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_parity_record_here_replay_in_another_checkout_without_tensorflow(tmp_path):
    """Recorded in one checkout, the project moved to another path, replayed with TensorFlow
    unimportable and the user's Python (which imports it) never run: the same verdicts and
    numbers as the live run; then the user's code changes, and the record is stale."""
    project = a_project(tmp_path / "gpu-box", OPS_PY_LIGHT).parent
    live = tfjs_parity("run", "p.json", "--backend", "cpu", "--no-repeat", "--out", "live",
                       cwd=project)  # fmt: skip
    assert live.returncode == 0, live.stdout + live.stderr
    done = tfjs_parity("record", "p.json", "--out", "refs", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 of 1 recorded" in done.stdout
    ci = tmp_path / "ci" / "checkout"
    shutil.copytree(project, ci)
    (ci / "ops.py").write_text(textwrap.dedent(OPS_PY))  # same function, now importing TF
    (ci / "imported.mark").unlink()
    # the code's bytes changed: stale, named as the user's step
    done = _run_without_tf(ci, "run", "p.json", "--references", "refs", "--backend", "cpu",
                           "--no-repeat", "--out", "stale")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((ci / "stale" / "report.json").read_text())
    ((run,),) = [c["runs"] for c in report["cases"]]
    assert run["status"] == "error" and "the Python code of step 'scale' changed" in run["reason"]
    assert "is stale" in run["reason"]
    # the recorded code back: replayed, TensorFlow never imported, ops.py never run
    (ci / "ops.py").write_text(textwrap.dedent(OPS_PY_LIGHT))
    done = _run_without_tf(ci, "run", "p.json", "--references", "refs", "--backend", "cpu",
                           "--no-repeat", "--out", "replay")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (ci / "imported.mark").exists()
    assert "reference: recorded 20" in done.stdout
    replay = json.loads((ci / "replay" / "report.json").read_text())
    reference = replay["environment"]["reference"]
    assert reference["mode"] == "recorded" and reference["records_used"] == 1
    assert replay["environment"]["reference_device"].startswith("recorded: ")
    live_report = json.loads((project / "live" / "report.json").read_text())
    assert live_report["environment"]["reference"]["mode"] == "live"
    ((live_run,),) = [c["runs"] for c in live_report["cases"]]
    ((replay_run,),) = [c["runs"] for c in replay["cases"]]
    assert replay_run["status"] == "ok" and replay_run["first_divergence"] is None
    for a, b in zip(live_run["stages"], replay_run["stages"], strict=True):
        assert a["name"] == b["name"] and a["verdict"] == b["verdict"] == "pass"
        assert a["chained"] == b["chained"] and a["isolated"] == b["isolated"], a["name"]


def test_parity_re_recording_fails_the_run_unless_accepted(tmp_path):
    project = a_project(tmp_path / "p").parent
    args = ("run", "p.json", "--backend", "cpu", "--no-repeat", "--no-isolated")
    done = tfjs_parity(*args, "--references", "refs", "--references-update", "--out", "o1",
                       cwd=project)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 reference(s) re-recorded" in done.stderr and "no recorded reference" in done.stdout
    report = json.loads((project / "o1" / "report.json").read_text())
    assert report["cases"][0]["runs"][0]["status"] == "ok"  # compared with the new record
    assert len(report["environment"]["reference"]["rerecorded"]) == 1
    done = tfjs_parity(*args, "--references", "refs", "--out", "o2", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    # a changed setting, re-recorded and accepted: passes
    doc = json.loads((project / "p.json").read_text())
    doc["steps"][0]["params"]["factor"] = 0.25
    (project / "p.json").write_text(json.dumps(doc))
    done = tfjs_parity(*args, "--references", "refs", "--references-update",
                       "--references-accept", "--out", "o3", cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "step 'scale' changed" in done.stdout


def test_parity_the_bundled_model_replays_without_tensorflow_in_a_fresh_cache(tmp_path):
    """A model step: its converted TF.js model and its structure's facts travel in the store,
    so a machine that never converted it, and cannot import TensorFlow, replays every layer."""
    suite = {
        "name": "one",
        "pipelines": [str(REPO / "fixtures" / "pipelines" / "seed-matched-model.json")],
        "cases": [{"dicom": str(REPO / "fixtures" / "dicom" / "synthetic_12bit_mono1.dcm"),
                   "stats": "seed"}],
    }  # fmt: skip
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    done = tfjs_parity("record", "suite.json", "--out", "refs", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (kept,) = (tmp_path / "refs" / MODELS).iterdir()
    assert (kept / "model.json").is_file()
    fresh = tmp_path / "fresh-cache"
    done = subprocess.run(
        [sys.executable, "-c", NO_TF, "run", "suite.json", "--references", "refs",
         "--backend", "wasm", "--no-repeat", "--out", "replay"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "TFJS_PARITY_CACHE": str(fresh)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (fresh / "models" / kept.name / "model.json").is_file()
    report = json.loads((tmp_path / "replay" / "report.json").read_text())
    ((run,),) = [c["runs"] for c in report["cases"]]
    model = next(s for s in run["stages"] if s["name"] == "model")
    assert model["coverage"]["share"] == 1 and len(model["layers"]) > 100
    assert all(la["verdict"] == "pass" for la in model["layers"])


PYTEST_REPLAY = f"""
import pytest
from pathlib import Path

FIXED = Path({str(REPO / "examples" / "dicom-preprocessing" / "parity" / "fixed.json")!r})
SCAN = Path({str(REPO / "fixtures" / "dicom" / "examples_overlay.dcm")!r})


@pytest.mark.parity
def test_fixed(parity_check):
    parity_check(FIXED, cases=[SCAN])
"""


def test_parity_pytest_records_replays_and_re_records_failing(pytester, tmp_path):
    """--parity-record writes the user's code pipeline's Python side and skips (no browser);
    --parity-references replays it and passes; --parity-references-update into an empty store
    records, compares, and fails the session (pytest-regressions' rule)."""
    pytester.makepyfile(test_user=PYTEST_REPLAY)
    refs, other = str(tmp_path / "refs"), str(tmp_path / "other")
    result = pytester.runpytest("--parity-backend", "cpu", "--parity-record", refs, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*1 case(s) of dicom-preprocessing-fixed recorded*"])
    assert "browser_start" not in result.stdout.str()  # no browser was started
    result = pytester.runpytest("--parity-backend", "cpu", "--parity-references", refs)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["reference: recorded 20*"])
    result = pytester.runpytest(
        "--parity-backend", "cpu", "--parity-references", other, "--parity-references-update"
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 reference(s) re-recorded into*--parity-references-accept*"])
    for bad in (
        ["--parity-references-accept"],
        ["--parity-record", refs, "--parity-references", refs],
    ):
        assert pytester.runpytest(*bad).ret == pytest.ExitCode.USAGE_ERROR


SLOW_ON_ZEROS = """
import time
import numpy as np

def scale(x, factor):
    if not np.any(x):  # the budget re-runs the op on zeros: past the limit there
        time.sleep(1.5)
    return x.astype(np.float32) * np.float32(factor)
"""


def test_a_record_without_its_float_budget_is_not_written(tmp_path):
    """Its replays would judge the step by its tolerance policy, not by what float
    arithmetic explains: a record that would change verdicts."""
    from harness.orchestrate import recording
    from harness.runtimes.python_runtime import PythonRuntime

    pipeline = spec.load(a_project(tmp_path, SLOW_ON_ZEROS))
    with pytest.raises(recording.NotRecorded, match=r"float budget of step\(s\) 'scale'"):
        recording.compute(PythonRuntime(), pipeline, pipeline.cases[0].load(), 0.5)


def test_records_and_kept_models_are_readable_as_plain_files_and_copies_are_checked(tmp_path):
    import os

    from harness.core import folders
    from harness.golden import models as kept

    out, terms = _output()
    components = {"c": "1"}
    path = store.write(tmp_path, "p", "c", components, components_key(components), out, terms, {})
    assert path.stat().st_mode & 0o777 == 0o666 & ~folders.UMASK
    # a record another run wrote while this one ran is not pruned by it
    store.prune(tmp_path, "p", "c", set(), before=path.stat().st_mtime - 1)
    assert path.is_file()
    converted = tmp_path / "cache" / "m-layers-abc"
    converted.mkdir(parents=True)
    (converted / "model.json").write_text("{}")
    (converted / "w.bin").write_bytes(b"weights")
    name, sha = kept.keep_model(tmp_path / "store", converted)
    copy = tmp_path / "store" / kept.MODELS / name
    assert copy.stat().st_mode & 0o777 == 0o777 & ~folders.UMASK
    (copy / "w.bin").write_bytes(b"version https://git-lfs.github.com/spec/v1")
    with pytest.raises(store.RecordError, match="not those recorded"):
        kept.restore_model(tmp_path / "store", name, sha, tmp_path / "fresh")
    # recording again puts the conversion back in place of the bad copy
    assert kept.keep_model(tmp_path / "store", converted) == (name, sha)
    assert kept.restore_model(tmp_path / "store", name, sha, tmp_path / "fresh") is not None
    assert (tmp_path / "fresh" / name / "w.bin").read_bytes() == b"weights"
    assert os.access(tmp_path / "fresh" / name / "w.bin", os.R_OK)
