"""Each known divergence reproduced for real in Chromium (TF.js 4.22 on the backend where it
happens) and named at the stage where it shows; each passing control has no explanation."""

import html
import json

import pytest

from harness.core.results import CaseResult, Report
from harness.report import html as html_report
from harness.report.wording import explain, outcome
from harness.specs import spec
from tests.known_cases import CASES, LAYER_CASES, first_hints, layer_run, project

pytestmark = [
    pytest.mark.parity,
    pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_parity_known_divergence_is_named(parity_harness, tmp_path, case):
    pipeline = spec.load(project(case, tmp_path))
    run = parity_harness.run(pipeline, pipeline.cases[0].load(), "chromium", case.backend)
    assert run.status == "ok", run.reason
    if case.entry is None:
        assert run.passed, outcome(run)
        assert all(not s.hints for s in run.stages)
        return
    assert not run.passed
    hints = first_hints(run)
    assert [h.get("id") for h in hints] == [case.entry], hints
    assert hints[0]["source"] == "known divergence" and hints[0]["fix"]["js"]
    # said in the pytest failure (wording.explain), report.json and report.html
    assert f"hint: {hints[0]['text']}" in explain(run)
    report = Report({}, [CaseResult(pipeline.cases[0].id, pipeline.name, runs=[run])])
    stages = json.loads(json.dumps(report.to_dict()))["cases"][0]["runs"][0]["stages"]
    said = [h for s in stages for h in s["hints"]]
    assert said[0]["id"] == case.entry and said[0]["source"] == "known divergence"
    assert html.escape(hints[0]["evidence"]) in html_report.render(report)


@pytest.mark.parametrize(
    "make, entry",
    [(m, e) for _, m, e in LAYER_CASES],
    ids=[n.split()[0] for n, _, _ in LAYER_CASES],
)
def test_parity_known_divergence_of_a_keras_layer_is_named(parity_harness, tmp_path, make, entry):
    run = layer_run(parity_harness, make, tmp_path)
    if entry is None:
        assert run.passed and not first_hints(run), outcome(run)
        assert all(not s.hints for s in run.stages[-1].layers)
        return
    assert run.first_divergent_layer in ("up", "bn"), outcome(run)
    assert [h.get("id") for h in first_hints(run)] == [entry]


def test_parity_known_divergence_of_a_graph_node_is_named(parity_harness, tmp_path):
    """A SavedModel's ArgMax over rounded values (ties) on webgpu: named at the ArgMax node."""
    from harness.core import tf_runtime
    from harness.orchestrate.suite import with_model

    tf = tf_runtime.tf()

    class Rounded(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 256, 32], tf.float32, name="x")])
        def serve(self, x):
            return {"arg": tf.argmax(tf.round(x * 2.0), axis=-1, output_type=tf.int32)}

    module = Rounded()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.serve})
    suite = with_model(None, tmp_path / "sm", samples=1, alone=True)
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "webgpu")
    assert run.first_divergent_layer is not None, outcome(run)
    assert run.first_divergent_layer.endswith("ArgMax")
    [hint] = first_hints(run)
    assert hint["id"] == "argmax-ties" and "tied maxima along axis 2" in hint["evidence"]


def test_parity_wasm_cast_to_bool_of_a_catalogue_step_is_named(parity_harness, tmp_path):
    """The catalogue's cast to bool on wasm, after a normalize to [-1, 1): fractions become
    false. The op is known, so the hint is no condition on the code."""
    from tests.known_cases import SCAN

    path = tmp_path / "cast.json"
    path.write_text(
        json.dumps(
            {
                "name": "cast-bool",
                "steps": [
                    {"op": "decode"},
                    {"name": "normalize", "op": "normalize", "params": {"mean": 0, "std": 4096}},
                    {"name": "mask", "op": "cast", "params": {"dtype": "bool"}},
                ],
                "cases": [{"file": str(SCAN)}],
            }
        )
    )
    pipeline = spec.load(path)
    run = parity_harness.run(pipeline, pipeline.cases[0].load(), "chromium", "wasm")
    assert run.first_divergence == "mask", outcome(run)
    [hint] = first_hints(run)
    assert hint["id"] == "wasm-cast-bool" and not hint["conditional"], hint
