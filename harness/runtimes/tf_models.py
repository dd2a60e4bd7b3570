"""The Python side of a `model` step: TF runs the Keras model (every layer) or the converter's
frozen graph (every node the converted GraphModel has), so each layer or node has a reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness import models
from harness.runtimes import tf_runtime


def model_layers(
    x: np.ndarray, path: str, format: str = "layers", layers: bool = True
) -> dict[str, np.ndarray]:
    """Every layer's (LayersModel) or computing node's (GraphModel) output, in model order
    (the last is the model's output), or just the output when `layers` is false."""
    if format == "graph":
        return _graph_nodes(x, path, layers)
    model = keras_model(path)
    tf = tf_runtime.tf()
    with tf_runtime.device():
        if not layers:
            return {model.name: model(x.astype(np.float32), training=False).numpy()}
        capture = _capture_model(path)
        outs = capture(x.astype(np.float32), training=False)
        names = [layer.name for layer in compared_layers(model)]
        return {
            n: np.asarray(o)
            for n, o in zip(names, (t.numpy() for t in tf.nest.flatten(outs)), strict=True)
        }


def model_layer_ops(path: str, format: str = "layers") -> dict[str, str]:
    """Layer name -> layer class (LayersModel), node name -> op (GraphModel), for the report."""
    if format == "graph":
        return models.graph_nodes(models.convert(Path(path), "graph")).ops
    return {layer.name: type(layer).__name__ for layer in compared_layers(keras_model(path))}


def ends_in_softmax(path: str, format: str = "layers") -> bool:
    """The model's output is a softmax (a Softmax layer or node, or a last layer whose
    activation is softmax): its rows are class probabilities."""
    if format == "graph":
        graph = models.graph_nodes(models.convert(Path(path), "graph"))
        return graph.ops.get(graph.nodes[-1]) == "Softmax"
    last = keras_model(path).layers[-1]
    config = last.get_config()
    activation = config.get("activation")
    return type(last).__name__ == "Softmax" or activation == "softmax"


def model_input_name(path: str) -> str:
    """The Keras model's input layer, whose name the page looks its isolated input up by (a
    Sequential model lists no InputLayer among its layers, but has one)."""
    return keras_model(path).inputs[0]._keras_history.layer.name


def compared_layers(model: Any) -> list[Any]:
    """The layers compared one by one, in order: every layer but the InputLayer, which a
    functional model lists first and a Sequential model does not list."""
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def model_node(layer: Any) -> int:
    """The index of the layer's call inside this model: its last inbound node (a nested model
    also has the node of its own construction)."""
    return len(layer.inbound_nodes) - 1


def model(x: np.ndarray, path: str, format: str = "layers", layers: bool = True) -> np.ndarray:
    return list(model_layers(x, path, format, layers).values())[-1]


_models: dict[str, Any] = {}


def keras_model(path: str) -> Any:
    if path not in _models:
        _models[path] = tf_runtime.tf().keras.models.load_model(path, compile=False)
    return _models[path]


def _capture_model(path: str) -> Any:
    key = f"{path}#layers"
    if key not in _models:
        m = keras_model(path)
        _models[key] = tf_runtime.tf().keras.Model(
            m.inputs, [layer.get_output_at(model_node(layer)) for layer in compared_layers(m)]
        )
    return _models[key]


def _graph_counterparts(converted: Path) -> dict[str, str | None]:
    key = f"{converted}#counterparts"
    if key not in _models:
        _models[key] = models.graph_counterparts(converted)
    return _models[key]


def graph_compared_nodes(path: str) -> list[str]:
    """The GraphModel nodes both sides produce: those with a TF counterpart, in graph order."""
    converted = models.convert(Path(path), "graph")
    counterparts = _graph_counterparts(converted)
    return [n for n in models.graph_nodes(converted).nodes if counterparts[n]]


def _graph_nodes(x: np.ndarray, path: str, layers: bool) -> dict[str, np.ndarray]:
    """The converted GraphModel's nodes, evaluated by name in the frozen graph the converter
    started from (same names; TF.js's graph has batch norms folded and ops fused, so each
    node's value is compared with what TF computes for it unfused)."""
    converted = models.convert(Path(path), "graph")
    graph = models.graph_nodes(converted)
    if len(graph.inputs) != 1:
        raise ValueError(f"{path}: the graph has {len(graph.inputs)} inputs; one is supported")
    counterparts = _graph_counterparts(converted)
    wanted = [n for n in graph.nodes if counterparts[n]] if layers else list(graph.nodes[-1:])
    tf = tf_runtime.tf()
    key = f"{converted}#frozen"
    if key not in _models:
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString((converted / models.FROZEN).read_bytes())
        g = tf.Graph()
        with g.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        _models[key] = tf.compat.v1.Session(graph=g)
    session = _models[key]
    with tf_runtime.device():
        values = session.run(
            [f"{counterparts[n]}:0" for n in wanted], {f"{graph.inputs[0]}:0": x.astype(np.float32)}
        )
    return {n: np.asarray(v) for n, v in zip(wanted, values, strict=True)}
