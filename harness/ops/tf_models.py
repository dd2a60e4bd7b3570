"""The Python side of a `model` step: TF runs the Keras model (every layer) or the converter's
frozen graph (every node the converted GraphModel has), so each layer or node has a reference."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.conversion import converter, graphs, models, signatures
from harness.core import tf_runtime
from harness.ops.keras_layers import (
    capture_model,
    compared_layers,
    installed_unisolated,
    keras_model,
    model_node,
    outputs_at_call,
    unisolated,
)

ModelInput = np.ndarray | Mapping[str, np.ndarray]  # one tensor, or tensors by input name

# What the harness reads of a model's structure besides running it, by (path, format): computed
# with TensorFlow, or installed from a recorded reference (golden/), which replays without it
_installed: dict[tuple[str, str], dict[str, Any]] = {}
_MISSING = object()


def _fact(path: str, format: str, name: str) -> Any:
    return _installed.get((path, format), {}).get(name, _MISSING)


def model_facts(path: str, format: str = "layers") -> dict[str, Any]:
    """Every fact of the model's structure the comparison reads (JSON-able): each layer's or
    node's class or op, which are compared and why not, those that cannot run alone, whether
    it ends in a softmax, what each compared layer reads, and for a GraphModel the nodes both
    sides produce. Needs TensorFlow for a LayersModel and for a graph's counterparts."""
    parts = model_parts(path, format)
    compared = [name for name, why in parts.items() if why is None]
    return {
        "layer_ops": model_layer_ops(path, format),
        "parts": parts,
        "unisolated": unisolated(path) if format == "layers" else {},
        "ends_in_softmax": ends_in_softmax(path, format),
        "stage_inputs": {name: stage_inputs(path, format, name) for name in compared},
        "compared_nodes": graph_compared_nodes(path) if format == "graph" else None,
    }


def install_facts(path: str, format: str, facts: dict[str, Any]) -> None:
    """`model_facts` as recorded, for the model at `path` here: read instead of computed."""
    _installed[(path, format)] = facts
    if format == "layers":
        installed_unisolated[f"{path}#unisolated"] = facts["unisolated"]


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
        capture = capture_model(path)
        outs = tf.nest.flatten(capture(feed_arg, training=False))
        names = [layer.name for layer in compared_layers(model)]
        return {n: np.asarray(o) for n, o in zip(names, outs, strict=True)}


def feeds(x: ModelInput, sig: signatures.Signature, path: str) -> list[np.ndarray]:
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


def model_signature(path: str, format: str = "layers") -> signatures.Signature:
    """The converted model's inputs and outputs (signatures.signature), once per model."""
    key = f"{path}#{format}#signature"
    if key not in _models:
        _models[key] = signatures.signature(converter.convert(Path(path), format))
    return _models[key]


def model_layer_ops(path: str, format: str = "layers") -> dict[str, str]:
    """Layer name -> layer class (LayersModel), node name -> op (GraphModel), for the report."""
    if (got := _fact(path, format, "layer_ops")) is not _MISSING:
        return got
    if format == "graph":
        return graphs.graph_nodes(converter.convert(Path(path), "graph")).ops
    return {layer.name: type(layer).__name__ for layer in compared_layers(keras_model(path))}


def ends_in_softmax(path: str, format: str = "layers") -> bool:
    """The model's output is a softmax (a Softmax layer or node, or a last layer whose
    activation is softmax): its rows are class probabilities."""
    if (got := _fact(path, format, "ends_in_softmax")) is not _MISSING:
        return got
    outputs = model_signature(path, format).outputs
    if len(outputs) != 1:
        return False
    if format == "graph":
        graph = graphs.graph_nodes(converter.convert(Path(path), "graph"))
        node, ops = outputs[0].node, graph.ops
        while ops.get(node) == "Identity":  # a signature output is an Identity of the result
            node = _graph_input_of(path, node) or ""
        return ops.get(node) == "Softmax"
    last = keras_model(path).get_layer(outputs[0].node)
    config = last.get_config()
    activation = config.get("activation")
    return type(last).__name__ == "Softmax" or activation == "softmax"


def _graph_input_of(path: str, node: str) -> str | None:
    feeds_ = graphs.graph_nodes(converter.convert(Path(path), "graph")).feeds.get(node, ())
    return feeds_[0] if len(feeds_) == 1 else None


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


def _graph_counterparts(converted: Path) -> dict[str, str | None]:
    key = f"{converted}#counterparts"
    if key not in _models:
        _models[key] = graphs.graph_counterparts(converted)
    return _models[key]


def graph_compared_nodes(path: str) -> list[str]:
    """The GraphModel nodes both sides produce: those with a TF counterpart, in graph order,
    then any model output not among them."""
    if (got := _fact(path, "graph", "compared_nodes")) is not _MISSING:
        return got
    converted = converter.convert(Path(path), "graph")
    counterparts = _graph_counterparts(converted)
    graph = graphs.graph_nodes(converted)
    nodes = [n for n in graph.nodes if counterparts[n] and n not in graph.in_loop]
    return nodes + [p.node for p in model_signature(path, "graph").outputs if p.node not in nodes]


def model_parts(path: str, format: str = "layers") -> dict[str, str | None]:
    """Every layer (but the InputLayer) or computing node of the model, in order: None for
    those both sides produce, else why the harness does not compare it. Once per model."""
    if (got := _fact(path, format, "parts")) is not _MISSING:
        return got
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
            else f"a layer giving {outputs_at_call(layer)} tensors: not captured"
            for layer in model.layers
            if type(layer).__name__ != "InputLayer"
        }
    converted = converter.convert(Path(path), "graph")
    graph = graphs.graph_nodes(converted)
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
    converted = converter.convert(Path(path), "graph")
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
    recorded = _fact(path, format, "stage_inputs")
    if recorded is not _MISSING and name in recorded:
        return recorded[name]
    if format == "graph":
        converted = converter.convert(Path(path), "graph")
        nodes = graphs.graph_nodes(converted)
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
