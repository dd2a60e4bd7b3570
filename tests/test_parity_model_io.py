"""Models as users bring them: several outputs, several inputs, integer inputs, inputs from the
user's own .npy/.npz files; each output compared under the model's own name for it."""

import json
import re

import numpy as np
import pytest

from harness.conversion import converter, models, signatures
from harness.core import tf_runtime
from harness.orchestrate.model_inputs import ModelInputError
from harness.orchestrate.suite import with_model
from harness.report.wording import outcome
from tests.test_parity_model import perturb

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


def two_heads(path):
    """A functional model with a trunk and two heads: cls (softmax) and box, its weights
    seeded (unseeded, about one draw in thirty closes every ReLU of the trunk on the sample,
    and a head's kernel then has no effect)."""
    k = tf_runtime.keras()
    init = k.initializers.GlorotUniform
    x = k.Input((6,), name="features")
    trunk = k.layers.Dense(8, activation="relu", name="trunk", kernel_initializer=init(1))(x)
    cls = k.layers.Dense(3, activation="softmax", name="cls", kernel_initializer=init(2))(trunk)
    box = k.layers.Dense(2, name="box", kernel_initializer=init(3))(trunk)
    k.Model(x, [cls, box]).save(path)
    return path


def three_outputs(path):
    """A SavedModel whose serving signature returns three outputs, two of one shape: the
    converter's model.json cannot tell those two apart by shape."""
    tf = tf_runtime.tf()

    class Heads(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.random.stateless_normal((6, 4), seed=(1, 2)))

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="x")])
        def serve(self, x):
            y = tf.matmul(x, self.w)
            return {"scores": tf.nn.softmax(y), "boxes": y * 2.0, "count": tf.reduce_sum(y, 1)}

    module = Heads()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


@pytest.mark.parity
def test_parity_each_output_of_a_two_head_model_is_compared(parity_harness, tmp_path):
    source = two_heads(tmp_path / "heads.h5")
    suite = with_model(None, source, samples=1, alone=True)
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu")
    assert run.passed, outcome(run)
    model = run.stages[-1]
    assert model.name == "model" and model.parts == {"cls": "cls", "box": "box"}
    assert [s.name for s in model.layers] == ["trunk", "cls", "box"]
    assert all(s.verdict == s.own_verdict == "pass" for s in model.layers)
    # a fault in one head of the TF.js model is found on that head, the other agrees
    converted = converter.convert(source)
    step = parity_harness.js_steps(suite.pipelines[0], suite.cases[0].load())
    # the bias: it moves the head whatever the trunk's ReLUs let through
    perturb(converted, tmp_path / "bad", "box/bias", 0.25)
    adopted = models.adopt(tmp_path / "bad")
    step[0]["params"]["url"] = f"/models/{adopted.name}/model.json"
    bad = parity_harness.run(
        suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu", js_steps=step
    )
    assert (bad.first_divergence, bad.first_divergent_layer) == ("model", "box")
    layers = {s.name: s for s in bad.stages[-1].layers}
    assert layers["box"].own_verdict == "fail" and layers["cls"].verdict == "pass"
    assert bad.stages[-1].verdict == "fail" and "box fail" in bad.stages[-1].message


@pytest.mark.parity
def test_parity_a_savedmodels_outputs_are_matched_by_signature_key(parity_harness, tmp_path):
    source = three_outputs(tmp_path / "heads")
    sig = signatures.signature(converter.convert(source, "graph"))
    # the key each output has in the SavedModel, paired with the node that computes it
    assert {p.name for p in sig.outputs} == {"scores", "boxes", "count"}
    suite = with_model(None, source, samples=1, alone=True)
    case = suite.cases[0].load()
    run = parity_harness.run(suite.pipelines[0], case, "chromium", "wasm")
    assert run.passed, outcome(run)
    model = run.stages[-1]
    assert set(model.parts) == {"scores", "boxes", "count"}
    nodes = {s.name: s for s in model.layers}
    # each key's node holds what TF's signature returns under that key
    served = tf_runtime.tf().saved_model.load(str(source)).signatures["serving_default"]
    expected = {k: v.numpy() for k, v in served(x=case.input).items()}
    reference = parity_harness.reference(suite.pipelines[0], case)
    for key, node in model.parts.items():
        assert nodes[node].verdict == "pass"
        np.testing.assert_allclose(reference.stages[f"model/{node}"], expected[key], rtol=1e-6)


@pytest.mark.parity
def test_parity_several_and_integer_inputs_fed_by_name(parity_harness, tmp_path):
    k = tf_runtime.keras()
    left, right = k.Input((4,), name="left"), k.Input((4,), name="right")
    out = k.layers.Dense(2, name="out")(k.layers.Concatenate(name="cat")([left, right]))
    k.Model([left, right], out).save(tmp_path / "two.h5")
    ids = k.Input((5,), dtype="int32", name="ids")
    flat = k.layers.Flatten(name="flat")(k.layers.Embedding(50, 4, name="emb")(ids))
    k.Model(ids, k.layers.Dense(2, name="o")(flat)).save(tmp_path / "ids.h5")
    np.savez(tmp_path / "pair.npz", right=np.ones((2, 4)), left=np.arange(8.0).reshape(2, 4))
    suite = with_model(None, tmp_path / "two.h5", inputs=[tmp_path / "pair.npz"])
    case = suite.cases[0].load()
    assert case.id == "pair.npz" and case.input["left"].dtype == np.float32  # float64 given
    run = parity_harness.run(suite.pipelines[0], case, "chromium", "cpu")
    assert run.passed, outcome(run)
    first = run.stages[0]
    assert first.name == "input" and first.parts == {"left": "left", "right": "right"}
    # each input reached its own input layer: swapping them changes the output
    swapped = {"left": case.input["right"], "right": case.input["left"]}
    assert not np.allclose(
        tf_runtime.keras().models.load_model(tmp_path / "two.h5", compile=False)(
            [swapped["left"], swapped["right"]]
        ),
        parity_harness.reference(suite.pipelines[0], case).stages["model"],
    )
    # an int32 input is drawn as integers (an embedding's ids), in the range asked for
    drawn = with_model(None, tmp_path / "ids.h5", samples=1, value_range=(0, 50))
    ids_case = drawn.cases[0].load()
    assert ids_case.input.dtype == np.int32 and ids_case.input.shape == (1, 5)
    assert ids_case.input.min() >= 0 and ids_case.input.max() < 50
    run = parity_harness.run(drawn.pipelines[0], ids_case, "chromium", "cpu")
    assert run.passed, outcome(run)
    # inputs that do not fit say which file, which input, and what the model takes
    np.save(tmp_path / "floats.npy", np.full((1, 5), 0.5))
    with pytest.raises(ModelInputError, match=r"floats.npy: input 'ids': float64 values"):
        with_model(None, tmp_path / "ids.h5", inputs=[tmp_path / "floats.npy"]).cases[0].load()
    np.savez(tmp_path / "one.npz", left=np.ones((1, 4)))
    with pytest.raises(ModelInputError, match=r"one.npz: the model's inputs are left, right"):
        with_model(None, tmp_path / "two.h5", inputs=[tmp_path / "one.npz"]).cases[0].load()
    with pytest.raises(ModelInputError, match=r"shape \[1, 3\] does not fit .*\[None, 5\]"):
        with_model(None, tmp_path / "ids.h5", input_shape=(1, 3), samples=1).cases[0].load()


def test_signature_reads_layers_and_graph_model_json(tmp_path):
    layers = {
        "format": "layers-model",
        "modelTopology": {
            "model_config": {
                "class_name": "Functional",
                "config": {
                    "layers": [
                        {
                            "class_name": "InputLayer",
                            "config": {
                                "name": "a",
                                "batch_input_shape": [None, 3],
                                "dtype": "int32",
                            },
                        },
                    ],
                    "input_layers": [["a", 0, 0]],
                    "output_layers": [["x", 0, 0], ["y", 0, 0]],
                },
            }
        },
    }
    (tmp_path / "model.json").write_text(json.dumps(layers))
    sig = signatures.signature(tmp_path)
    assert sig.inputs == (signatures.Port("a", "a", "int32", (None, 3)),)
    assert [p.name for p in sig.outputs] == ["x", "y"]
    layers["modelTopology"]["model_config"]["config"]["output_layers"] = [["x", 0, 1]]
    (tmp_path / "model.json").write_text(json.dumps(layers))
    with pytest.raises(signatures.SignatureError, match="x:1"):
        signatures.signature(tmp_path)
    graph = {
        "format": "graph-model",
        "signature": {
            "inputs": {
                "img": {
                    "name": "img:0",
                    "dtype": "DT_UINT8",
                    "tensorShape": {"dim": [{"size": "-1"}, {"size": "4"}]},
                }
            },
            "outputs": {
                "Identity:0": {"name": "Identity:0", "dtype": "DT_FLOAT"},
                "count": {"name": "Identity_1:0", "dtype": "DT_FLOAT"},
            },
        },
        "modelTopology": {"node": []},
    }
    (tmp_path / "model.json").write_text(json.dumps(graph))
    sig = signatures.signature(tmp_path)
    assert sig.inputs == (signatures.Port("img", "img", "int32", (None, 4)),)
    # a key the converter fell back to (a tensor name) is named by its node
    assert [(p.name, p.node) for p in sig.outputs] == [
        ("Identity", "Identity"),
        ("count", "Identity_1"),
    ]


def renamed(model_dir, out_dir, keep):
    """A copy of a converted GraphModel with every node but `keep` renamed (as a graph rebuilt
    by hand, or optimised by another converter, names its nodes)."""
    import shutil

    shutil.copytree(model_dir, out_dir)
    spec = json.loads((out_dir / "model.json").read_text())
    nodes = spec["modelTopology"]["node"]
    new = {n["name"]: n["name"] if n["name"] in keep else f"x{i}" for i, n in enumerate(nodes)}
    for n in nodes:
        n["name"] = new[n["name"]]
        n["input"] = [
            ("^" if i.startswith("^") else "")
            + new.get(i.lstrip("^").split(":")[0], i.lstrip("^").split(":")[0])
            + (":" + i.split(":")[1] if ":" in i else "")
            for i in n.get("input", [])
        ]
    for group in spec["weightsManifest"]:
        for w in group["weights"]:
            w["name"] = new.get(w["name"], w["name"])
    for ports in spec["signature"].values():
        for port in ports.values():
            node, _, index = port["name"].partition(":")
            port["name"] = f"{new.get(node, node)}:{index or 0}"
    (out_dir / "model.json").write_text(json.dumps(spec))


@pytest.mark.parity
def test_parity_coverage_is_stated_and_a_minimum_enforced(tmp_path, write_json):
    from harness.orchestrate.orchestrator import Harness
    from harness.orchestrate.suite import bundled_pipeline

    source = two_heads(tmp_path / "heads.h5")
    converted = converter.convert(source, "graph")
    outputs = {p.node for p in signatures.signature(converted).outputs}
    inputs = {p.node for p in signatures.signature(converted).inputs}
    renamed(converted, tmp_path / "theirs", outputs | inputs)
    spec = {
        "name": "renamed",
        "steps": [
            {
                "name": "model",
                "op": "model",
                "params": {"path": str(source), "format": "graph"},
                "js": {"tfjs_model": "theirs"},
            }
        ],
    }
    pipeline = bundled_pipeline(write_json("renamed.json", spec))
    case = with_model(None, source, samples=1, alone=True).cases[0].load()
    with Harness() as h:
        run = h.run(pipeline, case, "chromium", "cpu")
        # the outputs are compared (by the node each key names); the renamed nodes are not,
        # and the run says how many and why instead of a silent pass
        model = run.stages[-1]
        c = model.coverage
        assert c["total"] > c["compared"] == 2, c
        assert all("only python produced it" in why for why in c["not_compared"].values())
        assert run.passed and f"model: 2 of {c['total']} nodes compared" in outcome(run)
    with Harness(min_coverage=0.9) as h:
        run = h.run(pipeline, case, "chromium", "cpu")
        assert not run.passed and run.below_coverage
        assert outcome(run).startswith(f"FAIL: model: 2 of {c['total']} nodes compared")
    spec["min_coverage"] = 0.5  # the pipeline's own key
    with Harness() as h:
        run = h.run(bundled_pipeline(write_json("renamed.json", spec)), case, "chromium", "cpu")
        assert not run.passed and "below the minimum 50%" in outcome(run)
    # an output the page's model does not have is an error, never a pass
    renamed(converted, tmp_path / "no-output", inputs)
    spec["steps"][0]["js"]["tfjs_model"] = "no-output"
    with Harness() as h:
        run = h.run(bundled_pipeline(write_json("renamed.json", spec)), case, "chromium", "cpu")
        assert run.status == "error", outcome(run)
        assert "the TF.js model has no output 'Identity' (output 'box'" in run.reason


@pytest.mark.parity
def test_parity_control_flow_and_dynamic_ops_run_async_and_loop_nodes_are_named(
    parity_harness, tmp_path
):
    """NonMaxSuppression makes TF.js refuse `execute`; a while loop's inner nodes have a value
    per iteration, which neither side can fetch: they are named as not compared."""
    tf = tf_runtime.tf()

    class Nms(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([8, 4], tf.float32, name="boxes"),
                tf.TensorSpec([8], tf.float32, name="scores"),
            ]
        )
        def serve(self, boxes, scores):
            idx = tf.image.non_max_suppression(boxes, scores, 4, iou_threshold=0.5)
            return {"picked": tf.gather(boxes, idx), "kept": tf.gather(scores, idx) * 2.0}

    class Loop(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
        def serve(self, x):
            def body(i, v):
                return i + 1, tf.nn.relu(v * 1.5 - 0.1)

            return {"y": tf.while_loop(lambda i, v: i < 3, body, [tf.constant(0), x])[1]}

    for name, module in (("nms", Nms()), ("loop", Loop())):
        tf.saved_model.save(
            module, str(tmp_path / name), signatures={"serving_default": module.serve}
        )
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 1, (8, 4)).astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    np.savez(tmp_path / "nms.npz", boxes=boxes, scores=rng.uniform(0, 1, 8).astype(np.float32))
    suite = with_model(None, tmp_path / "nms", inputs=[tmp_path / "nms.npz"])
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu")
    assert run.passed and outcome(run) == "PASS", outcome(run)
    model = run.stages[-1]
    assert set(model.parts) == {"picked", "kept"}
    assert model.coverage["compared"] == model.coverage["total"]
    assert "NonMaxSuppressionV3" in {s.op for s in model.layers}
    suite = with_model(None, tmp_path / "loop", samples=1, alone=True)
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu")
    assert run.passed, outcome(run)
    c = run.stages[-1].coverage
    assert c["compared"] >= 1 and c["compared"] < c["total"]
    assert set(c["not_compared"].values()) == {
        "inside a while loop: a value per iteration, which cannot be fetched"
    }
    assert "nodes compared" in outcome(run)


@pytest.mark.parity
def test_parity_shared_layers_and_multi_output_layers_are_compared_where_they_can_be(
    parity_harness, tmp_path
):
    """A layer called twice is captured at its call in the model (its last): a layer reading
    another call of it cannot run alone on Python's values, and says so instead of failing; a
    layer giving several tensors (an LSTM with its states) is not captured, and the coverage
    says so."""
    k = tf_runtime.keras()
    layers = k.layers
    x = k.Input((4,), name="x")
    shared = layers.Dense(4, name="shared", activation="tanh")
    k.Model(x, layers.Dense(2, name="out")(shared(shared(x)))).save(tmp_path / "twice.h5")
    seq = k.Input((5, 3), name="seq")
    _, h, c = layers.LSTM(4, return_sequences=True, return_state=True, name="lstm")(seq)
    heads = [layers.Dense(2, name="dh")(h), layers.Dense(2, name="dc")(c)]
    k.Model(seq, heads).save(tmp_path / "lstm.h5")
    runs = {}
    for name in ("twice", "lstm"):
        suite = with_model(None, tmp_path / f"{name}.h5", samples=1, alone=True)
        runs[name] = parity_harness.run(
            suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu"
        )
        assert runs[name].passed, outcome(runs[name])
    twice = {s.name: s for s in runs["twice"].stages[-1].layers}
    assert twice["shared"].verdict == "pass" and twice["shared"].own_verdict is None
    assert "reads call 0 of layer 'shared', which is called 2 times" in (
        twice["shared"].isolated_message
    )
    assert twice["out"].own_verdict == "pass"
    lstm = runs["lstm"].stages[-1]
    assert lstm.coverage["not_compared"] == {"lstm": "a layer giving 3 tensors: not captured"}
    assert "model: 2 of 3 layers compared" in outcome(runs["lstm"])


@pytest.mark.parity
def test_parity_the_users_model_is_fed_by_input_name_whatever_its_input_order(
    parity_harness, tmp_path, write_json
):
    k = tf_runtime.keras()
    left, right = k.Input((4,), name="left"), k.Input((4,), name="right")
    out = k.layers.Dense(3, name="out")(k.layers.Concatenate(name="cat")([left, right]))
    source = tmp_path / "rev.h5"
    k.Model([right, left], out).save(source)
    import shutil

    shutil.copytree(converter.convert(source), tmp_path / "theirs")
    spec = json.loads((tmp_path / "theirs" / "model.json").read_text())
    config = spec["modelTopology"]["model_config"]["config"]
    config["input_layers"] = config["input_layers"][::-1]  # same model, inputs listed reversed
    (tmp_path / "theirs" / "model.json").write_text(json.dumps(spec))
    suite = with_model(None, source, tfjs_model=tmp_path / "theirs", samples=1, alone=True)
    run = parity_harness.run(suite.pipelines[0], suite.cases[0].load(), "chromium", "cpu")
    assert run.passed and outcome(run) == "PASS", outcome(run)
    assert run.stages[-1].chained.max_abs < 1e-6


def test_input_files_that_do_not_fit_are_refused_in_the_users_terms(tmp_path):
    k = tf_runtime.keras()
    left, right = k.Input((4,), name="left"), k.Input((4,), name="right")
    k.Model([left, right], k.layers.Add(name="add")([left, right])).save(tmp_path / "two.h5")
    x = k.Input((4,), name="x")
    k.Model(x, k.layers.Dense(2, name="d")(x)).save(tmp_path / "one.h5")
    np.savez(tmp_path / "batches.npz", left=np.ones((1, 4)), right=np.ones((2, 4)))
    np.save(tmp_path / "text.npy", np.array([["a"] * 4]))
    np.save(tmp_path / "empty.npy", np.zeros((0, 4), np.float32))
    np.save(tmp_path / "half.npy", np.ones((1, 4), np.float16))
    (tmp_path / "notes.npy").write_text("0.1, 0.2, 0.3, 0.4")
    cases = [
        (
            "two.h5",
            "batches.npz",
            "batch sizes must be one size of at least 1, are left: 1, right: 2",
        ),
        ("two.h5", "empty.npy", "a .npy holds one array; the model takes 2 inputs (left, right)"),
        ("one.h5", "text.npy", "input 'x': <U1 values cannot feed the model's float32 input"),
        ("one.h5", "empty.npy", "batch sizes must be one size of at least 1, are x: 0"),
        ("one.h5", "notes.npy", "neither NumPy's .npy format nor a .npz archive"),
    ]
    for model, file, message in cases:
        with pytest.raises(ModelInputError, match=re.escape(message)):
            with_model(None, tmp_path / model, inputs=[tmp_path / file]).cases[0].load()
    half = with_model(None, tmp_path / "one.h5", inputs=[tmp_path / "half.npy"]).cases[0].load()
    assert half.input.dtype == np.float32 and half.meta["converted"]  # exact: fed, and said


def test_a_keras3_file_is_named_as_such(tmp_path):
    import keras  # Keras 3, which TensorFlow 2.19 installs beside tf_keras

    x = keras.Input((4,))
    keras.Model(x, keras.layers.Dense(2)(x)).save(tmp_path / "k3.keras")
    with pytest.raises(models.ConversionError, match=r"saved by Keras 3, which TF\.js 4\.22"):
        converter.convert(tmp_path / "k3.keras")
