"""A TF.js model alone (no Keras or SavedModel source): the Python reference is rebuilt from the
same JSON and weights, so TF.js's kernels are checked against TF's on every layer or node."""

import json
import os
import re
import shutil

import numpy as np
import pytest

from harness.conversion import converter, models, npm_models
from harness.core import tf_runtime
from harness.orchestrate.suite import TFJS_ALONE, with_model
from harness.report.wording import outcome

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


@pytest.mark.parity
def test_parity_nsfwjs_mobilenet_v2_from_npm_alone_compares_every_layer(parity_harness):
    """nsfwjs 4.4.0 ships MobileNetV2 as a LayersModel with uint8-quantised weights, as base64
    strings inside JS modules: tensorflowjs's loader rebuilds it in Keras for the reference."""
    spec = npm_models.nsfwjs_model("mobilenet_v2")
    suite = with_model(None, spec, samples=1, alone=True)
    [pipeline] = suite.pipelines
    assert pipeline.description == TFJS_ALONE and pipeline.steps[0].python["format"] == "layers"
    case = suite.cases[0].load()
    assert case.input.shape == (1, 224, 224, 3)  # from the model's own input layer
    run = parity_harness.run(pipeline, case, "chromium", "wasm")
    assert run.passed, outcome(run)
    model = run.stages[-1]
    c = model.coverage
    assert c["compared"] == c["total"] == len(model.layers) > 150
    assert all(s.own_verdict == "pass" for s in model.layers)
    assert model.outputs["top1_agreement"] == 1.0  # its five classes, softmax


def graph_json(tmp_path, quantize: bool):
    """A small conv net converted here to a GraphModel (fused conv+bias+relu, a depthwise conv,
    a fused matmul), kept as its JSON (named not model.json) and weights only."""
    tf = tf_runtime.tf()
    k = tf.keras
    x = k.Input((8, 8, 3), name="image")
    ones = {"bias_initializer": "ones"}  # a zero bias is folded away by the converter
    y = k.layers.Conv2D(4, 3, activation="relu", name="conv", **ones)(x)
    y = k.layers.DepthwiseConv2D(3, activation="relu6", name="dw", **ones)(y)
    flat = k.layers.Flatten(name="flat")(y)
    y = k.layers.Dense(3, activation="softmax", name="head", **ones)(flat)
    k.Model(x, y).save(tmp_path / "small.h5")
    saved = tmp_path / "saved"
    tf.saved_model.save(k.models.load_model(tmp_path / "small.h5"), str(saved))
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")  # it imports IPython otherwise
    import tensorflowjs as tfjs

    out = tmp_path / "graph"
    tfjs.converters.convert_tf_saved_model(
        str(saved), str(out), quantization_dtype_map={"uint8": "*"} if quantize else None
    )
    shutil.move(out / "model.json", out / "small-graph.json")
    return out / "small-graph.json"


@pytest.mark.parity
@pytest.mark.parametrize("quantize", [False, True])
def test_parity_a_graph_model_alone_is_rebuilt_as_tf_nodes_of_the_same_names(
    parity_harness, tmp_path, quantize
):
    spec = graph_json(tmp_path, quantize)
    ops = {n["op"] for n in json.loads(spec.read_text())["modelTopology"]["node"]}
    assert {"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"} <= ops
    suite = with_model(None, spec, samples=1, alone=True)
    [pipeline] = suite.pipelines
    assert pipeline.name == "small-graph" and pipeline.steps[0].python["format"] == "graph"
    case = suite.cases[0].load()
    run = parity_harness.run(pipeline, case, "chromium", "cpu")
    assert run.passed, outcome(run)
    model = run.stages[-1]
    assert model.coverage["compared"] == model.coverage["total"], model.coverage
    assert ops - {"Const", "Placeholder"} == {s.op for s in model.layers}
    assert all(s.own_verdict == "pass" for s in model.layers)
    # the rebuilt graph holds TF ops only, and computes what TF computes from the source
    # model (uint8 weights dequantised: within a few quantisation steps of it)
    rebuilt = converter.convert(spec, "graph")
    frozen = tf_runtime.tf().compat.v1.GraphDef()
    frozen.ParseFromString((rebuilt / models.FROZEN).read_bytes())
    assert not {n.op for n in frozen.node} & {"_FusedConv2D", "FusedDepthwiseConv2dNative"}
    keras = tf_runtime.keras().models.load_model(tmp_path / "small.h5", compile=False)
    reference = parity_harness.reference(pipeline, case).stages["model"]
    np.testing.assert_allclose(
        reference, keras(case.input).numpy(), atol=0.05 if quantize else 1e-6
    )


@pytest.mark.parity
def test_parity_a_fault_in_a_tfjs_graph_alone_is_found_at_its_node(parity_harness, tmp_path):
    """The reference comes from the same weights, so a weight changed in the model changes both
    sides: what is checked is the kernels. A kernel that differs is found at its node: here the
    page's model fuses a Sigmoid where the JSON the reference reads fuses a Relu."""
    spec = graph_json(tmp_path, quantize=False)
    suite = with_model(None, spec, samples=1, alone=True)
    served = parity_harness.js_steps(suite.pipelines[0], suite.cases[0].load())
    page_copy = tmp_path / "page"
    shutil.copytree(spec.parent, page_copy)
    data = json.loads((page_copy / spec.name).read_text())
    import base64

    for n in data["modelTopology"]["node"]:
        if n["op"] == "_FusedConv2D":
            steps = n["attr"]["fused_ops"]["list"]["s"]
            assert base64.b64decode(steps[-1]) == b"Relu"
            steps[-1] = base64.b64encode(b"Sigmoid").decode()
            node = n["name"]
    (page_copy / spec.name).write_text(json.dumps(data))
    adopted = models.adopt(page_copy / spec.name)
    served[0]["params"]["url"] = f"/models/{adopted.name}/model.json"
    run = parity_harness.run(
        suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu", js_steps=served
    )
    assert not run.passed
    assert (run.first_divergence, run.first_divergent_layer) == ("model", node), outcome(run)


@pytest.mark.parity
def test_parity_a_quantised_graph_model_from_npm_is_judged_on_its_float_budgets(parity_harness):
    """nsfwjs's mobilenet_v2_mid is a GraphModel with uint8 weights: its fused convolutions get
    float budgets from the dequantised weights, so float32 rounding (a 9-tap depthwise sum
    cancelling from ~198 to ~-2.9) is not a failure."""
    spec = npm_models.nsfwjs_model("mobilenet_v2_mid")
    suite = with_model(None, spec, samples=1, alone=True)
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu")
    assert run.passed, outcome(run)
    model = run.stages[-1]
    fused = [s for s in model.layers if s.op in ("_FusedConv2D", "FusedDepthwiseConv2dNative")]
    assert len(fused) > 30 and all(s.budget is not None for s in fused)
    assert model.coverage["compared"] == model.coverage["total"]


@pytest.mark.parity
def test_parity_a_fused_prelu_is_rebuilt(parity_harness, tmp_path):
    tf = tf_runtime.tf()
    k = tf.keras
    x = k.Input((6, 6, 2), name="image")
    y = k.layers.Conv2D(3, 3, name="conv", bias_initializer="ones")(x)
    y = k.layers.PReLU(name="prelu", alpha_initializer=k.initializers.Constant(0.2))(y)
    k.Model(x, y).save(tmp_path / "prelu.h5")
    tf.saved_model.save(k.models.load_model(tmp_path / "prelu.h5"), str(tmp_path / "saved"))
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    import tensorflowjs as tfjs

    tfjs.converters.convert_tf_saved_model(str(tmp_path / "saved"), str(tmp_path / "graph"))
    spec = tmp_path / "graph" / "model.json"
    nodes = json.loads(spec.read_text())["modelTopology"]["node"]
    steps = [n.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", []) for n in nodes]
    import base64

    assert any(base64.b64decode(s) == b"Prelu" for step in steps for s in step)
    suite = with_model(None, spec.parent, samples=1, alone=True)
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu")
    assert run.passed and run.stages[-1].chained.max_abs < 1e-5, outcome(run)


def test_a_broken_tfjs_model_is_refused_in_the_users_terms(tmp_path):
    tf = tf_runtime.tf()
    k = tf.keras
    x = k.Input((4,), name="x")
    model = k.Model(x, k.layers.Dense(2, name="d")(k.layers.Dense(3, name="h")(x)))
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    import tensorflowjs as tfjs

    tfjs.converters.save_keras_model(model, str(tmp_path / "ok"))

    def broken(name, change):
        shutil.copytree(tmp_path / "ok", tmp_path / name)
        spec = json.loads((tmp_path / name / "model.json").read_text())
        change(tmp_path / name, spec)
        (tmp_path / name / "model.json").write_text(json.dumps(spec))
        return tmp_path / name / "model.json"

    def cut(folder, spec):
        shard = folder / spec["weightsManifest"][0]["paths"][0]
        shard.write_bytes(shard.read_bytes()[:20])

    def outside(folder, spec):
        shard = spec["weightsManifest"][0]["paths"][0]
        shutil.move(folder / shard, tmp_path / shard)
        spec["weightsManifest"][0]["paths"][0] = f"../{shard}"

    def custom(folder, spec):
        spec["modelTopology"]["model_config"]["config"]["layers"][1]["class_name"] = "MyAct"

    for name, change, message in (
        ("cut", cut, "hold 20 bytes; its weightsManifest declares 92 (a shard cut short?)"),
        ("outside", outside, "is outside the model's folder"),
        ("custom", custom, "layer class(es) MyAct are not Keras layers"),
    ):
        spec = broken(name, change)
        with pytest.raises(models.ConversionError, match=re.escape(message)) as caught:
            converter.convert(spec, "layers")
        assert str(spec.parent) in str(caught.value)  # the user's path, not the cache's


def test_cli_a_tfjs_model_folder_without_model_json_is_a_usage_error(tmp_path, capsys):
    from harness import cli

    status = cli.main(["run", "--tfjs-model", str(tmp_path), "--out", str(tmp_path / "out")])
    assert status == 2
    assert "no model.json there" in capsys.readouterr().err


@pytest.mark.parity
def test_parity_a_pipeline_starting_with_a_model_runs_alone_and_says_what_it_compares(
    parity_harness, tmp_path, write_json
):
    """`run PIPELINE --alone`: a pipeline whose first step is a model is fed inputs drawn for
    that model; with the page running another copy, the report says the two are compared."""
    from harness.core.results import Report
    from harness.orchestrate.suite import (
        SuiteError,
        bundled_pipeline_path,
        pipeline_alone,
        run_suite,
    )

    spec = graph_json(tmp_path, quantize=False)
    copy = tmp_path / "copy"
    shutil.copytree(spec.parent, copy)
    step = {"name": "model", "op": "model", "params": {"path": str(spec)}}
    step["js"] = {"tfjs_model": str(copy / spec.name)}
    pipeline = write_json("p.json", {"name": "copy", "steps": [step]})
    suite = pipeline_alone(pipeline, samples=1)
    report = run_suite(parity_harness, suite, ["cpu"], ["chromium"], report=Report({}))
    assert report.passed
    assert "the page runs" in report.pipelines["copy"] and str(copy) in report.pipelines["copy"]
    with pytest.raises(SuiteError, match="the pipeline's first step must be one"):
        pipeline_alone(bundled_pipeline_path("seed"))
