"""Conversion of Keras / SavedModel models to TF.js: cached by content, clear errors."""

import json
import re
import shutil

import pytest

from harness import models
from harness.runtimes import tf_runtime


@pytest.fixture
def bundled(fixtures_dir):
    return fixtures_dir / "models" / "xray_mobilenetv2.h5"


def test_bundled_model_converts_to_a_layers_model_once(bundled, tmp_path, monkeypatch):
    out = models.convert(bundled, "layers", cache=tmp_path)
    spec = json.loads((out / "model.json").read_text())
    assert spec["format"] == "layers-model"
    info = models.describe(out)
    assert info["layers"] > 100 and 1_000_000 < info["weight_bytes"] < 3_000_000
    # a second conversion of the same bytes is a cache hit: the converter is not called
    monkeypatch.setattr(models, "_convert", lambda *a: pytest.fail("converted again"))
    assert models.convert(bundled, "layers", cache=tmp_path) == out


def test_a_changed_model_is_converted_again(bundled, tmp_path):
    copy = tmp_path / "model.h5"
    shutil.copy(bundled, copy)
    first = models.content_key(copy, "layers")
    with copy.open("ab") as f:
        f.write(b"\0")
    assert models.content_key(copy, "layers") != first
    assert models.content_key(copy, "graph") != models.content_key(copy, "layers")


def test_bundled_model_converts_to_a_graph_model(bundled, tmp_path):
    out = models.convert(bundled, "graph", cache=tmp_path)
    spec = json.loads((out / "model.json").read_text())
    assert spec["format"] == "graph-model"
    ops = {n["op"] for n in spec["modelTopology"]["node"]}
    assert "FusedDepthwiseConv2dNative" in ops and "_FusedConv2D" in ops  # folded and fused


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
        models.convert(tmp_path / "svd", "graph", cache=tmp_path / "cache")
    assert not list((tmp_path / "cache" / "models").glob("svd-*"))  # nothing half-written kept


def test_not_a_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(models.ConversionError, match="cannot be loaded as a Keras model"):
        models.convert(bad, "layers", cache=tmp_path)
    with pytest.raises(models.ConversionError, match="no such model"):
        models.convert(tmp_path / "missing.h5", "layers", cache=tmp_path)
