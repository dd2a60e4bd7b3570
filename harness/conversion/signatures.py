"""A converted model's inputs and outputs (Port, Signature), read from its model.json (and, for a
GraphModel converted here, the SavedModel's own output keys): the names both runtimes feed and
read by."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.conversion.graphs import node_of
from harness.conversion.models import OUTPUT_KEYS


@dataclass(frozen=True)
class Port:
    """One input or output of a model, as its model.json declares it."""

    name: str  # the model's own name: input/output layer (LayersModel), signature key (graph)
    node: str  # where each runtime reads or feeds it: the layer, or the graph node
    dtype: str  # numpy dtype name: float32, int32, bool, ...
    shape: tuple[int | None, ...] | None  # None where a size is free (the batch); unknown: None


@dataclass(frozen=True)
class Signature:
    """A converted model's inputs and outputs, in the model's order."""

    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]


# TF's DataType enum names (tensorflow/core/framework/types.proto) -> numpy; TF.js holds int64
# as int32 and has no float64 (tfjs-converter operations/operation_mapper.ts getDtype)
_DTYPES = {
    "DT_FLOAT": "float32",
    "DT_HALF": "float32",
    "DT_DOUBLE": "float32",
    "DT_INT32": "int32",
    "DT_INT64": "int32",
    "DT_INT16": "int32",
    "DT_INT8": "int32",
    "DT_UINT8": "int32",
    "DT_BOOL": "bool",
    "DT_STRING": "string",
}


class SignatureError(ValueError):
    """A model whose inputs or outputs the harness cannot name."""


def signature(model_dir: Path) -> Signature:
    """The model's inputs and outputs from its model.json (and, for a GraphModel converted
    here, the SavedModel's own output keys): the names both runtimes feed and read by.

    LayersModel: `modelTopology.model_config` (input_layers/output_layers of a functional
    model; a Sequential's first layer and last layer). GraphModel: the `signature` the
    converter writes, else the Placeholders and the nodes nothing reads. Raises
    SignatureError for an output that is a second tensor of a layer or node."""
    spec = json.loads((model_dir / "model.json").read_text())
    topology = spec.get("modelTopology") or {}
    if spec.get("format") == "layers-model" or "model_config" in topology:
        return _layers_signature(topology.get("model_config") or topology)
    return _graph_signature(spec, model_dir)


def _layers_signature(config: dict[str, Any]) -> Signature:
    body = config.get("config", {})
    layers = body.get("layers", []) if isinstance(body, dict) else body
    by_name = {layer["config"]["name"]: layer for layer in layers}
    if config.get("class_name") == "Sequential":
        first = layers[0]["config"]
        shape = first.get("batch_input_shape") or first.get("batch_shape")
        own = layers[0]["class_name"] == "InputLayer"
        name = first["name"] if own else f"{first['name']}_input"  # tf_keras names it so
        inputs = (Port(name, name, first.get("dtype") or "float32", _dims(shape)),)
        last = [la for la in layers if la["class_name"] != "InputLayer"][-1]["config"]["name"]
        return Signature(inputs, (Port(last, last, "float32", None),))
    ports = []
    for name, _node, _index in body.get("input_layers", []):
        conf = by_name.get(name, {}).get("config", {})
        shape = conf.get("batch_input_shape") or conf.get("batch_shape")
        ports.append(Port(name, name, conf.get("dtype") or "float32", _dims(shape)))
    outs = []
    for name, _node, index in body.get("output_layers", []):
        if index:
            raise SignatureError(
                f"model output {name}:{index} is the layer's output {index + 1}; outputs that "
                "are a layer's second or later output are not supported"
            )
        outs.append(Port(name, name, "float32", None))
    return Signature(tuple(ports), tuple(outs))


def _dims(shape: Any) -> tuple[int | None, ...] | None:
    if shape is None:
        return None
    return tuple(None if d is None or int(d) < 0 else int(d) for d in shape)


def _graph_signature(spec: dict[str, Any], model_dir: Path) -> Signature:
    declared = spec.get("signature") or {}
    topology = spec.get("modelTopology") or {}
    nodes = {n["name"]: n for n in topology.get("node", [])}

    def port(key: str, info: dict[str, Any], kind: str) -> Port:
        tensor = info.get("name", key)
        node, _, index = tensor.partition(":")
        if index not in ("", "0"):
            raise SignatureError(
                f"model {kind} {key!r} is {tensor}, output {index} of node {node}; a node's "
                "second or later output is not supported as a model input or output"
            )
        dims = info.get("tensorShape", {}).get("dim")
        shape = None if dims is None else tuple(int(d.get("size", -1)) for d in dims)
        name = node if ":" in key else key  # the converter's fallback key is a tensor name
        return Port(name, node, _DTYPES.get(info.get("dtype", "DT_FLOAT"), "float32"), _dims(shape))

    inputs = [port(k, v, "input") for k, v in (declared.get("inputs") or {}).items()]
    if not inputs:
        for name, n in nodes.items():
            if n.get("op") == "Placeholder":
                attr = n.get("attr", {})
                dims = attr.get("shape", {}).get("shape", {}).get("dim")
                shape = None if dims is None else [int(d.get("size", -1)) for d in dims]
                dtype = _DTYPES.get(attr.get("dtype", {}).get("type", "DT_FLOAT"), "float32")
                inputs.append(Port(name, name, dtype, _dims(shape)))
    outputs = [port(k, v, "output") for k, v in (declared.get("outputs") or {}).items()]
    keyed = model_dir / OUTPUT_KEYS
    if keyed.is_file():
        pairs = json.loads(keyed.read_text())["outputs"]
        dtypes = {p.node: p.dtype for p in outputs}
        outputs = [Port(k, n, dtypes.get(n, "float32"), None) for k, n in pairs]
    elif not outputs:  # TF.js's own rule: the nodes no other node reads
        read = {node_of(i) for n in nodes.values() for i in n.get("input", [])}
        outputs = [
            Port(name, name, "float32", None)
            for name, n in nodes.items()
            if name not in read and n.get("op") not in ("Const", "Placeholder", "NoOp")
        ]
    return Signature(tuple(inputs), tuple(outputs))
