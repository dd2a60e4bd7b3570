"""The Keras side of a model step: the Keras model TF runs (for a TF.js LayersModel alone, the one
rebuilt from it), the layers compared one by one and the call of each that is captured, those
that cannot run alone on Python's values, and a layer's class, config and weights as saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.conversion import converter, tfjs_reference
from harness.core import tf_runtime
from harness.specs.model_files import is_tfjs


def compared_layers(model: Any) -> list[Any]:
    """The layers compared one by one, in order: every layer but the InputLayer (which a
    functional model lists first and a Sequential model does not list) that gives one tensor
    at its call in this model (an LSTM returning its states gives several: not captured)."""
    return [
        layer
        for layer in model.layers
        if type(layer).__name__ != "InputLayer" and outputs_at_call(layer) == 1
    ]


def outputs_at_call(layer: Any) -> int:
    out = layer.get_output_at(model_node(layer))
    return len(out) if isinstance(out, list | tuple) else 1


# unisolated() as recorded with a model's facts (tf_models.install_facts), by the same key
installed_unisolated: dict[str, dict[str, str]] = {}


def unisolated(path: str) -> dict[str, str]:
    """Compared layers that cannot run alone on Python's values, and why: each reads another
    layer at a call other than the one captured (a layer called twice: only its call in this
    model, its last, is captured) or an output other than its first. The page's rule is the
    same (web/page/page.js modelParts). Once per model."""
    key = f"{path}#unisolated"
    if key not in _models and key in installed_unisolated:
        return installed_unisolated[key]
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


_models: dict[str, Any] = {}


def keras_model(path: str) -> Any:
    """The Keras model at `path`; for a TF.js LayersModel's JSON, the one rebuilt from it
    (tfjs_reference.from_tfjs)."""
    if path not in _models:
        source = Path(path)
        if is_tfjs(source):
            source = converter.convert(source, "layers") / tfjs_reference.REFERENCE_H5
        _models[path] = tf_runtime.keras().models.load_model(source, compile=False)
    return _models[path]


def capture_model(path: str) -> Any:
    key = f"{path}#layers"
    if key not in _models:
        m = keras_model(path)
        _models[key] = tf_runtime.keras().Model(
            m.inputs, [layer.get_output_at(model_node(layer)) for layer in compared_layers(m)]
        )
    return _models[key]


def layer_facts(path: str, name: str) -> tuple[str, dict[str, Any], dict[str, np.ndarray]] | None:
    """A Keras layer's class, config and weights by short name (gamma, moving_mean, kernel),
    as the file holds them (a model run in training mode updates its live copy's moving
    statistics); None when the model has no such layer."""
    key = f"{path}#as saved"
    if key not in _models:
        source = Path(path)
        if is_tfjs(source):
            source = converter.convert(source, "layers") / tfjs_reference.REFERENCE_H5
        _models[key] = tf_runtime.keras().models.load_model(source, compile=False)
    model = _models[key]
    layer = next((la for la in model.layers if la.name == name), None)
    if layer is None:
        return None
    weights = {w.name.split("/")[-1].split(":")[0]: np.asarray(w.numpy()) for w in layer.weights}
    return type(layer).__name__, dict(layer.get_config()), weights
