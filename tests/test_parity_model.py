"""The bundled classifier as a pipeline stage, every layer compared."""

import json
import os
import shutil
import uuid

import numpy as np
import pytest

from harness.conversion import converter, models
from harness.core import tf_runtime
from harness.orchestrate.suite import bundled_case, bundled_pipeline, with_model
from harness.report.wording import explain, outcome


@pytest.mark.parity
def test_parity_model_layers_agree_with_tf(parity_run, assert_parity, fixtures_dir):
    run = parity_run(fixtures_dir / "pipelines" / "seed-matched-model.json", "examples_overlay")
    assert_parity(run)
    assert run.first_divergence is None and run.first_divergent_layer is None
    model = next(s for s in run.stages if s.name == "model")
    keras_model = tf_runtime.keras().models.load_model(
        fixtures_dir / "models" / "xray_mobilenetv2.h5", compile=False
    )
    assert [s.name for s in model.layers] == [layer.name for layer in keras_model.layers[1:]]
    assert (model.layers[0].name, model.layers[0].op) == ("Conv1", "Conv2D")
    assert {s.op for s in model.layers} >= {
        "DepthwiseConv2D",
        "BatchNormalization",
        "ReLU",
        "GlobalAveragePooling2D",
        "Dense",
    }
    assert all(s.verdict == s.own_verdict == "pass" for s in model.layers)
    # each layer alone (fed Python's inputs) is closer to TF than end to end
    conv1 = model.layers[0]
    assert conv1.isolated.max_abs < conv1.chained.max_abs
    assert model.shape == [1, 2] and model.chained.max_abs < 1e-6
    outputs = model.outputs
    assert outputs["top1_agreement"] == 1.0
    assert outputs["top5_agreement"] is None  # two classes: the top five always agree
    assert outputs["max_abs_prob"] < 1e-6 and outputs["logits_cosine"] > 0.999999
    assert run.deterministic  # the second pass (plain inference) gave the same bytes


def perturb(model_dir, out_dir, weight: str, delta: float, scale: float = 1.0) -> None:
    """Copy a converted TF.js model, scaling every value of one weight by `scale` and adding
    `delta` (a single value could sit on a channel the ReLUs before it never open)."""
    shutil.copytree(model_dir, out_dir)
    spec = json.loads((out_dir / "model.json").read_text())
    [group] = spec["weightsManifest"]
    offset = 0
    for w in group["weights"]:
        if w["name"] == weight:
            break
        offset += int(np.prod(w["shape"])) * 4  # every weight of this model is float32
    else:
        raise AssertionError(f"no weight {weight}")
    count = int(np.prod(w["shape"]))
    shard = out_dir / group["paths"][0]
    data = bytearray(shard.read_bytes())
    values = np.frombuffer(data, np.float32, count, offset) * np.float32(scale)
    values = values + np.float32(delta)
    data[offset : offset + 4 * count] = values.tobytes()
    shard.write_bytes(bytes(data))


def tampered_run(h, fixtures_dir, weight: str, delta: float = 0.0, scale: float = 1.0):
    """The bundled model with one weight changed in the TF.js model only, on wasm."""
    pipeline = bundled_pipeline(fixtures_dir / "pipelines" / "seed-matched-model.json")
    case = bundled_case("examples_overlay")
    steps = h.js_steps(pipeline, case)
    model_step = next(s for s in steps if s["op"] == "model")
    converted = models.CACHE / "models" / model_step["params"]["url"].split("/")[2]
    # a name of its own: the page keeps every model it loaded by URL
    tampered = converted.with_name(f"{converted.name}-tampered-{os.getpid()}-{uuid.uuid4().hex}")
    perturb(converted, tampered, weight, delta, scale)
    try:
        model_step["params"]["url"] = f"/models/{tampered.name}/model.json"
        return h.run(pipeline, case, "chromium", "wasm", js_steps=steps)
    finally:
        shutil.rmtree(tampered, ignore_errors=True)


@pytest.mark.parity
def test_parity_a_layers_weights_off_by_one_percent_fail_at_that_layer(
    parity_harness, fixtures_dir
):
    run = tampered_run(parity_harness, fixtures_dir, "block_5_project/kernel", scale=1.01)
    assert (run.first_divergence, run.first_divergent_layer) == ("model", "block_5_project")
    layers = {s.name: s for s in next(s for s in run.stages if s.name == "model").layers}
    assert layers["block_5_project"].own_error_class == "semantic"
    assert layers["block_5_project"].budget["ratio"] > 2
    assert all(  # every other layer: within its float32 budget
        s.own_verdict == "pass" for n, s in layers.items() if n != "block_5_project"
    )


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_parity_a_stack_of_dense_layers_drifts_in_float32_and_passes(parity_harness, tmp_path):
    x = inputs = tf_runtime.keras().Input((256,))
    for i in range(10):
        init = tf_runtime.keras().initializers.RandomNormal(stddev=0.2, seed=i)
        x = tf_runtime.keras().layers.Dense(
            256, "relu" if i < 9 else None, kernel_initializer=init, bias_initializer="ones"
        )(x)
    tf_runtime.keras().Model(inputs, x).save(tmp_path / "dense10.h5")
    suite = with_model(None, tmp_path / "dense10.h5", input_shape=(8, 256), samples=1)
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "wasm")
    model = run.stages[-1]
    assert model.verdict == "fail"  # end to end, beyond torch.testing's float32 tolerance
    assert {s.own_error_class for s in model.layers} <= {"none", "float32"}
    assert run.passed and outcome(run).startswith("PASS (float32 drift only: output off by")


@pytest.mark.parity
def test_parity_a_weight_changed_in_tfjs_only_is_found_at_its_layer(parity_harness, fixtures_dir):
    run = tampered_run(parity_harness, fixtures_dir, "block_3_project/kernel", 0.5)
    assert (run.first_divergence, run.first_divergent_layer) == ("model", "block_3_project")
    model = next(s for s in run.stages if s.name == "model")
    layers = {s.name: s for s in model.layers}
    assert layers["block_3_expand_relu"].verdict == layers["block_3_depthwise_relu"].verdict
    assert layers["block_3_depthwise_relu"].verdict == "pass"
    # every layer also ran alone on Python's inputs: the changed layer fails on its own, the
    # layer after it fails end to end but only carries the error it was given
    assert layers["block_3_project"].own_verdict == "fail"
    after = layers["block_3_project_BN"]
    assert (after.verdict, after.own_verdict) == ("fail", "pass")
    assert outcome(run) == "FAIL: first divergence at model/block_3_project (Conv2D)"
    assert "layer end to end fail" in explain(run) and "own (isolated) fail" in explain(run)


@pytest.mark.parity
def test_parity_graph_model_nodes_agree_with_tf(parity_run, assert_parity, fixtures_dir):
    run = parity_run(fixtures_dir / "pipelines" / "seed-matched-graph.json", "examples_overlay")
    assert_parity(run)
    model = next(s for s in run.stages if s.name == "model")
    ops = {s.op for s in model.layers}
    assert {"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul", "AddV2"} <= ops
    assert len(model.layers) == 70  # every computing node of the converted graph
    assert model.layers[-1].name == "Identity" and model.shape == [1, 2]
    # batch norms folded into the convolutions: float32-level differences, never semantic
    assert {s.own_error_class for s in model.layers} <= {"none", "float32"}
    # every node also ran alone (the graph executed from Python's values of what it reads)
    assert all(s.isolated is not None and s.own_verdict == "pass" for s in model.layers)
    # each judged by its own float budget, from the converted weights (batch norms folded)
    assert all(s.budget is not None and s.budget["ratio"] < 1 for s in model.layers)
    fused = next(s for s in model.layers if s.op == "_FusedConv2D")
    assert "folded batch norm" in fused.budget["basis"]


@pytest.mark.parity
def test_parity_a_weight_changed_in_the_users_graph_model_is_found_at_its_node(
    parity_harness, fixtures_dir, tmp_path, write_json
):
    source = fixtures_dir / "models" / "xray_mobilenetv2.h5"
    node = "StatefulPartitionedCall/mobilenetv2_0.35_224/block_3_project_BN/FusedBatchNormV3"
    weight = "StatefulPartitionedCall/mobilenetv2_0.35_224/block_3_project/Conv2D_weights"
    perturb(converter.convert(source, "graph"), tmp_path / "theirs", weight, 0.5)
    spec = json.loads((fixtures_dir / "pipelines" / "seed-matched-graph.json").read_text())
    spec["steps"][-1] = {
        "name": "model",
        "op": "model",
        "params": {"path": str(source), "format": "graph"},
        "js": {"tfjs_model": "theirs"},  # the user's own converted model, beside the file
    }
    pipeline = bundled_pipeline(write_json("graph.json", spec))
    run = parity_harness.run(pipeline, bundled_case("examples_overlay"), "chromium", "wasm")
    assert (run.first_divergence, run.first_divergent_layer) == ("model", node)
    nodes = {s.name: s for s in next(s for s in run.stages if s.name == "model").layers}
    before = node.replace("block_3_project_BN/FusedBatchNormV3", "block_3_depthwise/depthwise")
    after = node.replace("block_3_project_BN/FusedBatchNormV3", "block_4_expand_relu/Relu6")
    assert nodes[before].verdict == "pass" and nodes[node].own_verdict == "fail"
    assert (nodes[after].verdict, nodes[after].own_verdict) == ("fail", "pass")  # inherited


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_parity_a_layer_tfjs_cannot_load_is_named_and_earlier_stages_kept(parity_harness, tmp_path):
    inputs = tf_runtime.keras().Input((4,))
    dense = tf_runtime.keras().layers.Dense(3, name="dense")(inputs)
    doubled = tf_runtime.keras().layers.Lambda(lambda t: t * 2.0, name="double")(dense)
    tf_runtime.keras().Model(inputs, doubled).save(tmp_path / "lambda.h5")
    suite = with_model(None, tmp_path / "lambda.h5", input_shape=(1, 4), samples=1)
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "wasm")
    assert run.status == "error"
    assert "model: JS exception: TF.js cannot load the converted model: Unknown layer: Lambda" in (
        run.reason
    )
    assert next(s for s in run.stages if s.name == "input").verdict == "pass"  # kept


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_parity_sequential_and_nested_models_compare_every_layer(parity_harness, tmp_path):
    """A Sequential model lists no InputLayer: its first layer is compared too; a Sequential
    inside a functional model is compared as the layer it is there."""
    layers = tf_runtime.keras().layers
    seq = tf_runtime.keras().Sequential(
        [tf_runtime.keras().Input((2, 2)), layers.Flatten(name="f"), layers.Dense(3)]
    )
    seq.save(tmp_path / "seq.h5")
    inputs = tf_runtime.keras().Input((4,), name="inp")
    inner = tf_runtime.keras().Sequential(
        [layers.Dense(3, name="a"), layers.Dense(2, name="b")], name="inner"
    )
    tf_runtime.keras().Model(inputs, layers.Dense(2, name="head")(inner(inputs))).save(
        tmp_path / "nest.h5"
    )
    for name, shape, first in (("seq", (1, 2, 2), "f"), ("nest", (1, 4), "inner")):
        suite = with_model(None, tmp_path / f"{name}.h5", input_shape=shape, samples=1)
        run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "wasm")
        model = run.stages[-1]
        assert run.passed, outcome(run)
        names = [s.name for s in model.layers]
        assert names[0] == first and len(names) == 2
        assert all(s.own_verdict == "pass" and s.budget is not None for s in model.layers)
