"""The Python side of a `model` step: TF runs the Keras model (every layer) or the converter's
frozen graph (every node the converted GraphModel has), so each layer or node has a reference."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.conversion import models
from harness.core import tf_runtime

ModelInput = np.ndarray | Mapping[str, np.ndarray]  # one tensor, or tensors by input name


def model_layers(
    x: ModelInput, path: str, format: str = "layers", layers: bool = True
) -> dict[str, np.ndarray]:
    """Every compared layer's (LayersModel) or node's (GraphModel) output by name, in model
    order, and every model output's (`model_signature(...).outputs`, by `node`); with `layers`
    false, the outputs only. `x`: the input, or for several inputs a mapping input name ->
    array. Raises ValueError when `x` does not match the model's inputs."""
    if format == "graph":
        return _graph_nodes(x, path, layers)
    model = keras_model(path)
    tf = tf_runtime.tf()
    sig = model_signature(path, format)
    feed = [_cast(a, p.dtype) for a, p in zip(feeds(x, sig, path), sig.inputs, strict=True)]
    feed_arg = feed[0] if len(feed) == 1 else feed
    outputs = [p.node for p in sig.outputs]
    with tf_runtime.device():
        if not layers:
            outs = tf.nest.flatten(model(feed_arg, training=False))
            return {n: np.asarray(o) for n, o in zip(outputs, outs, strict=True)}
        capture = _capture_model(path)
        outs = tf.nest.flatten(capture(feed_arg, training=False))
        names = [layer.name for layer in compared_layers(model)]
        return {n: np.asarray(o) for n, o in zip(names, outs, strict=True)}


def feeds(x: ModelInput, sig: models.Signature, path: str) -> list[np.ndarray]:
    """The model's inputs in its order from `x`; ValueError naming what does not fit."""
    names = [p.name for p in sig.inputs]
    if not isinstance(x, Mapping):
        if len(names) != 1:
            raise ValueError(
                f"{Path(path).name} takes {len(names)} inputs ({', '.join(names)}) and is given "
                "one tensor: run it alone with --input FILE.npz, one array per input name"
            )
        return [x]
    missing = [n for n in names if n not in x]
    extra = sorted(set(x) - set(names))
    if missing or extra:
        raise ValueError(
            f"{Path(path).name} takes inputs {', '.join(names)}; given {', '.join(sorted(x))}"
            + (f" (missing {', '.join(missing)})" if missing else "")
            + (f" (not inputs of the model: {', '.join(extra)})" if extra else "")
        )
    return [x[n] for n in names]


def _cast(a: np.ndarray, dtype: str) -> np.ndarray:
    """What the page's tensor holds: float32 for float inputs (TF.js has no float64)."""
    return a.astype(np.float32) if dtype == "float32" else np.asarray(a)


def model_signature(path: str, format: str = "layers") -> models.Signature:
    """The converted model's inputs and outputs (models.signature), once per model."""
    key = f"{path}#{format}#signature"
    if key not in _models:
        _models[key] = models.signature(models.convert(Path(path), format))
    return _models[key]


def model_layer_ops(path: str, format: str = "layers") -> dict[str, str]:
    """Layer name -> layer class (LayersModel), node name -> op (GraphModel), for the report."""
    if format == "graph":
        return models.graph_nodes(models.convert(Path(path), "graph")).ops
    return {layer.name: type(layer).__name__ for layer in compared_layers(keras_model(path))}


def ends_in_softmax(path: str, format: str = "layers") -> bool:
    """The model's output is a softmax (a Softmax layer or node, or a last layer whose
    activation is softmax): its rows are class probabilities."""
    outputs = model_signature(path, format).outputs
    if len(outputs) != 1:
        return False
    if format == "graph":
        graph = models.graph_nodes(models.convert(Path(path), "graph"))
        node, ops = outputs[0].node, graph.ops
        while ops.get(node) == "Identity":  # a signature output is an Identity of the result
            node = _graph_input_of(path, node) or ""
        return ops.get(node) == "Softmax"
    last = keras_model(path).get_layer(outputs[0].node)
    config = last.get_config()
    activation = config.get("activation")
    return type(last).__name__ == "Softmax" or activation == "softmax"


def _graph_input_of(path: str, node: str) -> str | None:
    feeds_ = models.graph_nodes(models.convert(Path(path), "graph")).feeds.get(node, ())
    return feeds_[0] if len(feeds_) == 1 else None


def compared_layers(model: Any) -> list[Any]:
    """The layers compared one by one, in order: every layer but the InputLayer (which a
    functional model lists first and a Sequential model does not list) that gives one tensor
    at its call in this model (an LSTM returning its states gives several: not captured)."""
    return [
        layer
        for layer in model.layers
        if type(layer).__name__ != "InputLayer" and _outputs_at_call(layer) == 1
    ]


def _outputs_at_call(layer: Any) -> int:
    out = layer.get_output_at(model_node(layer))
    return len(out) if isinstance(out, list | tuple) else 1


def unisolated(path: str) -> dict[str, str]:
    """Compared layers that cannot run alone on Python's values, and why: each reads another
    layer at a call other than the one captured (a layer called twice: only its call in this
    model, its last, is captured) or an output other than its first. The page's rule is the
    same (web/page/page.js modelParts). Once per model."""
    key = f"{path}#unisolated"
    if key not in _models:
        _models[key] = _unisolated(path)
    return _models[key]


def _unisolated(path: str) -> dict[str, str]:
    model = keras_model(path)
    captured = {layer.name for layer in compared_layers(model)}
    out: dict[str, str] = {}
    for layer in compared_layers(model):
        node = layer.inbound_nodes[model_node(layer)]
        for source, node_index, tensor_index, _ in node.iterate_inbound():
            if type(source).__name__ == "InputLayer":
                continue
            if source.name not in captured:
                out[layer.name] = f"it reads layer {source.name!r}, which is not captured"
            elif tensor_index != 0:
                out[layer.name] = f"it reads output {tensor_index} of layer {source.name!r}"
            elif node_index != model_node(source):
                out[layer.name] = (
                    f"it reads call {node_index} of layer {source.name!r}, which is called "
                    f"{model_node(source) + 1} times; only its last call is captured"
                )
    return out


def model_node(layer: Any) -> int:
    """The index of the layer's call inside this model: its last inbound node (a nested model
    also has the node of its own construction)."""
    return len(layer.inbound_nodes) - 1


def model(x: ModelInput, path: str, format: str = "layers", layers: bool = True) -> np.ndarray:
    """The model's output on `x` (a model with several outputs has no one output: ValueError).
    `layers` is accepted for the step's settings and changes nothing here."""
    outputs = model_signature(path, format).outputs
    if len(outputs) != 1:
        raise ValueError(
            f"{Path(path).name} has {len(outputs)} outputs "
            f"({', '.join(p.name for p in outputs)}), not one tensor"
        )
    return model_layers(x, path, format, False)[outputs[0].node]


_models: dict[str, Any] = {}


def keras_model(path: str) -> Any:
    """The Keras model at `path`; for a TF.js LayersModel's JSON, the one rebuilt from it
    (models.from_tfjs)."""
    if path not in _models:
        source = Path(path)
        if models.is_tfjs(source):
            source = models.convert(source, "layers") / models.REFERENCE_H5
        _models[path] = tf_runtime.keras().models.load_model(source, compile=False)
    return _models[path]


def _capture_model(path: str) -> Any:
    key = f"{path}#layers"
    if key not in _models:
        m = keras_model(path)
        _models[key] = tf_runtime.keras().Model(
            m.inputs, [layer.get_output_at(model_node(layer)) for layer in compared_layers(m)]
        )
    return _models[key]


def _graph_counterparts(converted: Path) -> dict[str, str | None]:
    key = f"{converted}#counterparts"
    if key not in _models:
        _models[key] = models.graph_counterparts(converted)
    return _models[key]


def graph_compared_nodes(path: str) -> list[str]:
    """The GraphModel nodes both sides produce: those with a TF counterpart, in graph order,
    then any model output not among them."""
    converted = models.convert(Path(path), "graph")
    counterparts = _graph_counterparts(converted)
    graph = models.graph_nodes(converted)
    nodes = [n for n in graph.nodes if counterparts[n] and n not in graph.in_loop]
    return nodes + [p.node for p in model_signature(path, "graph").outputs if p.node not in nodes]


def model_parts(path: str, format: str = "layers") -> dict[str, str | None]:
    """Every layer (but the InputLayer) or computing node of the model, in order: None for
    those both sides produce, else why the harness does not compare it. Once per model."""
    key = f"{path}#{format}#parts"
    if key not in _models:
        _models[key] = _model_parts(path, format)
    return _models[key]


def _model_parts(path: str, format: str) -> dict[str, str | None]:
    if format == "layers":
        model = keras_model(path)
        captured = {layer.name for layer in compared_layers(model)}
        return {
            layer.name: None
            if layer.name in captured
            else f"a layer giving {_outputs_at_call(layer)} tensors: not captured"
            for layer in model.layers
            if type(layer).__name__ != "InputLayer"
        }
    converted = models.convert(Path(path), "graph")
    graph = models.graph_nodes(converted)
    compared = set(graph_compared_nodes(path))
    frozen = _frozen_names(converted)
    out: dict[str, str | None] = {}
    for node in graph.nodes:
        if node in compared:
            out[node] = None
        elif node in graph.in_loop:
            out[node] = "inside a while loop: a value per iteration, which cannot be fetched"
        elif node not in frozen:
            out[node] = "no node of this name in TF's frozen graph (the converter rewrote it)"
        else:
            fused = "+".join(graph.fused.get(node, ())) or graph.ops[node]
            out[node] = f"TF.js fused {fused}; the chain it folds cannot be followed in TF's graph"
    return out


def _frozen_names(converted: Path) -> set[str]:
    key = f"{converted}#frozen-names"
    if key not in _models:
        graph_def = tf_runtime.tf().compat.v1.GraphDef()
        graph_def.ParseFromString((converted / models.FROZEN).read_bytes())
        _models[key] = {n.name for n in graph_def.node}
    return _models[key]


def _graph_nodes(x: ModelInput, path: str, layers: bool) -> dict[str, np.ndarray]:
    """The converted GraphModel's nodes, evaluated by name in the frozen graph the converter
    started from (same names; TF.js's graph has batch norms folded and ops fused, so each
    node's value is compared with what TF computes for it unfused)."""
    converted = models.convert(Path(path), "graph")
    sig = model_signature(path, "graph")
    feed = {
        f"{p.node}:0": _cast(a, p.dtype)
        for a, p in zip(feeds(x, sig, path), sig.inputs, strict=True)
    }
    counterparts = _graph_counterparts(converted)
    wanted = graph_compared_nodes(path) if layers else [p.node for p in sig.outputs]
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
        values = session.run([f"{counterparts.get(n) or n}:0" for n in wanted], feed)
    return {n: np.asarray(v) for n, v in zip(wanted, values, strict=True)}


def stage_inputs(path: str, format: str, name: str) -> list[str | None] | None:
    """What layer (or node) `name` reads, in order: compared layers' or nodes' names, None for
    the model's own input; None when it reads something not captured (then its Python input
    is unknown)."""
    if format == "graph":
        converted = models.convert(Path(path), "graph")
        nodes = models.graph_nodes(converted)
        read = nodes.feeds.get(name)
        if read is None:
            return None
        return [None if r in nodes.inputs else r for r in read]
    model = keras_model(path)
    layer = next((la for la in compared_layers(model) if la.name == name), None)
    if layer is None or name in unisolated(path):
        return None
    node = layer.inbound_nodes[model_node(layer)]
    return [
        None if type(source).__name__ == "InputLayer" else source.name
        for source, _, _, _ in node.iterate_inbound()
    ]


def layer_facts(path: str, name: str) -> tuple[str, dict[str, Any], dict[str, np.ndarray]] | None:
    """A Keras layer's class, config and weights by short name (gamma, moving_mean, kernel),
    as the file holds them (a model run in training mode updates its live copy's moving
    statistics); None when the model has no such layer."""
    key = f"{path}#as saved"
    if key not in _models:
        source = Path(path)
        if models.is_tfjs(source):
            source = models.convert(source, "layers") / models.REFERENCE_H5
        _models[key] = tf_runtime.keras().models.load_model(source, compile=False)
    model = _models[key]
    layer = next((la for la in model.layers if la.name == name), None)
    if layer is None:
        return None
    weights = {w.name.split("/")[-1].split(":")[0]: np.asarray(w.numpy()) for w in layer.weights}
    return type(layer).__name__, dict(layer.get_config()), weights
