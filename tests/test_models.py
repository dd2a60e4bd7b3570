"""Conversion of Keras / SavedModel models to TF.js: cached by content, clear errors."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.conversion import converter, graphs, models
from harness.core import tf_runtime

REPO = Path(__file__).parent.parent


@pytest.fixture
def bundled(fixtures_dir):
    return fixtures_dir / "models" / "xray_mobilenetv2.h5"


def test_bundled_model_converts_to_a_layers_model_once(bundled, tmp_path, monkeypatch):
    out = converter.convert(bundled, "layers", cache=tmp_path)
    spec = json.loads((out / "model.json").read_text())
    assert spec["format"] == "layers-model"
    info = models.describe(out)
    assert info["layers"] > 100 and 1_000_000 < info["weight_bytes"] < 3_000_000
    # a second conversion of the same bytes is a cache hit: the converter is not called
    monkeypatch.setattr(converter, "_convert", lambda *a: pytest.fail("converted again"))
    assert converter.convert(bundled, "layers", cache=tmp_path) == out


def test_a_changed_model_is_converted_again(bundled, tmp_path):
    copy = tmp_path / "model.h5"
    shutil.copy(bundled, copy)
    first = converter.content_key(copy, "layers")
    with copy.open("ab") as f:
        f.write(b"\0")
    assert converter.content_key(copy, "layers") != first
    assert converter.content_key(copy, "graph") != converter.content_key(copy, "layers")


def test_bundled_model_converts_to_a_graph_model(bundled, tmp_path):
    out = converter.convert(bundled, "graph", cache=tmp_path)
    spec = json.loads((out / "model.json").read_text())
    assert spec["format"] == "graph-model"
    ops = {n["op"] for n in spec["modelTopology"]["node"]}
    assert "FusedDepthwiseConv2dNative" in ops and "_FusedConv2D" in ops  # folded and fused
    assert (out / models.FROZEN).is_file()  # the graph Python evaluates node by node


def test_graph_nodes_come_in_dependency_order(bundled):
    out = converter.convert(bundled, "graph")
    spec = json.loads((out / "model.json").read_text())
    inputs = {
        n["name"]: [i.split(":")[0] for i in n.get("input", [])]
        for n in spec["modelTopology"]["node"]
    }
    graph = graphs.graph_nodes(out)
    assert graph.inputs == ("input_1",)
    position = {n: i for i, n in enumerate(graph.nodes)}
    for node in graph.nodes:  # every computing input of a node comes before it
        assert all(position[i] < position[node] for i in inputs[node] if i in position)
    assert graph.nodes[-1] == "Identity" and len(graph.nodes) == 70
    depthwise = "StatefulPartitionedCall/mobilenetv2_0.35_224/block_1_depthwise/depthwise"
    assert graph.fused[depthwise] == ("BiasAdd", "Relu6")


def test_a_fused_node_is_compared_with_the_end_of_the_chain_it_fused(bundled):
    prefix = "StatefulPartitionedCall/mobilenetv2_0.35_224/"
    counterparts = graphs.graph_counterparts(converter.convert(bundled, "graph"))
    # named after its first op (the depthwise conv), it computes conv -> batch norm -> Relu6
    assert counterparts[prefix + "block_1_depthwise/depthwise"] == (
        prefix + "block_1_depthwise_relu/Relu6"
    )
    # named after its last op: the same name in TF's graph
    assert counterparts[prefix + "Conv1_relu/Relu6"] == prefix + "Conv1_relu/Relu6"
    assert all(counterparts.values())


def test_users_own_tfjs_model_is_served_from_the_cache_by_content(bundled, tmp_path):
    theirs = tmp_path / "theirs"
    shutil.copytree(converter.convert(bundled, "layers"), theirs)
    served = models.adopt(theirs, cache=tmp_path / "cache")
    assert served.parent == tmp_path / "cache" / "models"
    assert sorted(p.name for p in served.iterdir()) == sorted(p.name for p in theirs.iterdir())
    assert models.adopt(theirs, cache=tmp_path / "cache") == served
    next(theirs.glob("*.bin")).unlink()
    with pytest.raises(models.ConversionError, match=r"weight file .* is missing"):
        models.adopt(theirs, cache=tmp_path / "cache")


def test_an_op_tfjs_lacks_is_named(tmp_path):
    tf = tf_runtime.tf()

    class Svd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([4, 4], tf.float32)])
        def __call__(self, x):
            return tf.linalg.svd(x)[0]

    tf.saved_model.save(Svd(), str(tmp_path / "svd"))
    with pytest.raises(
        models.ConversionError, match=re.escape("TF.js has no kernel for op(s) Svd")
    ):
        converter.convert(tmp_path / "svd", "graph", cache=tmp_path / "cache")
    assert not list((tmp_path / "cache" / "models").glob("svd-*"))  # nothing half-written kept


def test_not_a_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(models.ConversionError, match="cannot be loaded as a Keras model"):
        converter.convert(bad, "layers", cache=tmp_path)
    with pytest.raises(models.ConversionError, match="no such model"):
        converter.convert(tmp_path / "missing.h5", "layers", cache=tmp_path)


def test_a_keras_v3_file_converts_and_an_unsafe_lambda_is_refused_by_name(bundled, tmp_path):
    tf_runtime.keras().models.load_model(bundled, compile=False).save(tmp_path / "m.keras")
    out = converter.convert(tmp_path / "m.keras", "layers", cache=tmp_path)
    assert json.loads((out / "model.json").read_text())["format"] == "layers-model"
    inputs = tf_runtime.keras().Input((4,))
    doubled = tf_runtime.keras().layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    tf_runtime.keras().Model(inputs, doubled).save(tmp_path / "lambda.keras")
    with pytest.raises(models.ConversionError, match="Lambda layer"):
        converter.convert(tmp_path / "lambda.keras", "layers", cache=tmp_path)


def test_a_changed_model_file_gets_a_new_content_key(tmp_path):
    """The key is memoised per (size, mtime): an edited file must still be hashed again."""
    import os

    from harness.conversion import converter

    model = tmp_path / "m.h5"
    model.write_bytes(b"weights-1")
    first = converter.content_key(model, "layers")
    assert converter.content_key(model, "layers") == first
    model.write_bytes(b"weights-2")  # same size
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert converter.content_key(model, "layers") != first


def test_a_user_module_that_imported_tensorflow_first_does_not_change_the_harness_keras(
    bundled, tmp_path
):
    """User code often imports TensorFlow (and touches tf.keras, Keras 3 under TF 2.19) before
    the harness does: the harness still builds and converts Keras 2 models."""
    code = f"""
import os
os.environ.pop("TF_USE_LEGACY_KERAS", None)
import tensorflow as tf
assert tf.keras.__version__.startswith("3."), tf.keras.__version__  # the user's Keras 3
from harness.conversion import converter
from harness.core import tf_runtime
from harness.ops import tf_models
assert tf_runtime.keras().__version__.startswith("2."), tf_runtime.keras().__version__
out = converter.convert(__import__("pathlib").Path({str(bundled)!r}), "layers",
                     cache=__import__("pathlib").Path({str(tmp_path)!r}))
print(sorted(tf_models.model_layer_ops({str(bundled)!r})))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith("[")
