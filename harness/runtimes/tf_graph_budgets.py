"""The float terms (compare/budget.py `Terms`) of each node of a converted GraphModel: what its sums
add up and how long they are, from the node's own weights (the converted model's) and Python's
values of the nodes it reads.

The converter folds a batch normalisation into the convolution before it (weights W s, offset
beta - mean s); TF in Python computes the convolution, then the normalisation. The terms of the
fused node are therefore those of both: |x| * |W s| summed, plus |mean s|, |beta| and the folded
offset, with mean, s and beta read from the frozen graph the converter started from.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare.budget import TRANSCENDENTAL_ULPS, Terms, exact
from harness.conversion import converter, graphs, models
from harness.core import tf_runtime
from harness.ops.op_terms import beyond_float16, estimated
from harness.ops.tf_models import ModelInput, feeds, model_signature

EXACT_OPS = {
    "Identity", "Reshape", "Squeeze", "ExpandDims", "Pad", "PadV2", "MirrorPad", "ConcatV2",
    "Concat", "Transpose", "StridedSlice", "Slice", "Pack", "Unpack", "Tile", "GatherV2",
    "MaxPool", "Max", "Min", "Relu", "Relu6", "Maximum", "Minimum", "Cast", "Shape",
}  # fmt: skip
ACTIVATION_OPS = {
    "Relu": "relu", "Relu6": "relu6", "Elu": "elu", "LeakyRelu": "leaky_relu",
    "Prelu": "leaky_relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax",
    "Selu": "selu", "Softplus": "softplus", "Exp": "exponential",
}  # fmt: skip
BATCH_NORMS = {"FusedBatchNorm", "FusedBatchNormV3"}
CHAIN = {"BiasAdd", "Add", "AddV2", "Identity", *BATCH_NORMS, *ACTIVATION_OPS}
CONVS = {"_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative"}


def graph_terms(
    path: str, model_input: ModelInput, values: Mapping[str, np.ndarray]
) -> dict[str, Terms]:
    """Terms of every compared node of the GraphModel converted from `path`, by node name,
    from `values` (Python's value of each node) and the model's input. A node whose inputs
    are not all known (a second output of another node, a quantised weight) gets none: its
    tolerance policy judges it."""
    converted = converter.convert(Path(path), "graph")
    nodes, weights, norms = _graph_constants(converted)
    sig = model_signature(path, "graph")
    inputs = feeds(model_input, sig, path)
    known = {**{p.node: a for p, a in zip(sig.inputs, inputs, strict=True)}, **values}
    out: dict[str, Terms] = {}
    tf = tf_runtime.tf()
    with tf_runtime.device():
        for name, y in values.items():
            node = nodes.get(name)
            if node is None:
                continue
            xs = []
            for i in node.get("input", []):
                source = i.lstrip("^").split(":")[0]
                if i.startswith("^"):
                    continue
                value = weights.get(source) if ":" not in i else None
                value = known.get(source) if value is None and ":" not in i else value
                if value is None:
                    break
                xs.append(value)
            else:
                try:
                    out[name] = _node_terms(tf, node, xs, y, norms.get(name))
                except (ValueError, KeyError, IndexError, TypeError):
                    continue  # an attribute this reading does not know: no budget
    return out


def _attr(node: dict[str, Any], key: str, kind: str, default: Any = None) -> Any:
    value = node.get("attr", {}).get(key)
    if value is None:
        return default
    if kind == "s":
        return base64.b64decode(value.get("s", "")).decode()
    if kind == "ints":
        return [int(v) for v in value.get("list", {}).get("i", [])]
    if kind == "strs":
        return [base64.b64decode(v).decode() for v in value.get("list", {}).get("s", [])]
    return value.get(kind, default)


def _node_terms(
    tf: Any, node: dict[str, Any], xs: list[np.ndarray], y: np.ndarray, norm: Any
) -> Terms:
    op = node["op"]
    beyond = beyond_float16(*[x for x in xs if x.dtype.kind == "f"], y)
    if op in EXACT_OPS:
        return exact(f"{op}: moves or picks values, computes none", beyond)
    fused = _attr(node, "fused_ops", "strs", [])
    activation = next((ACTIVATION_OPS[f] for f in reversed(fused) if f in ACTIVATION_OPS), "linear")
    a = [np.abs(x.astype(np.float64)) for x in xs]
    if op in CONVS or op in ("_FusedMatMul", "MatMul"):
        linear, length = _linear(tf, op, node, a)
        extra, basis = np.zeros(()), f"{op}: |input| x |weights|"
        if "BiasAdd" in fused and len(a) > 2:
            extra = extra + a[2]
            length += 1
            basis += " + |bias|"
        if norm is not None:  # the batch norm folded in: its own terms too
            mean, s, beta = norm
            extra = extra + np.abs(mean * s) + np.abs(beta)
            length += 3 + 2 * TRANSCENDENTAL_ULPS
            basis += " + the folded batch norm's |mean s| + |beta|"
        return Terms(
            linear + extra, length, f"{basis}, then {activation}", activation, beyond_float16=beyond
        )
    if op in ("BiasAdd", "Add", "AddV2", "Sub"):
        return Terms(a[0] + a[1], 1, f"{op} of two inputs", beyond_float16=beyond)
    if op in ("Mul", "RealDiv"):
        value = a[0] * a[1] if op == "Mul" else a[0] / a[1]
        return Terms(value, 1, f"{op} of two inputs", beyond_float16=beyond)
    if op == "Mean":
        axes = tuple(int(v) for v in np.atleast_1d(xs[1]))
        keep = bool(_attr(node, "keep_dims", "b", False))
        count = int(np.prod([xs[0].shape[ax] for ax in axes]))
        magnitude = a[0].mean(axis=axes, keepdims=keep)
        return Terms(magnitude, count + 1, f"mean of {count} values", beyond_float16=beyond)
    if op == "AvgPool":
        ksize = _attr(node, "ksize", "ints")
        pooled = tf.nn.avg_pool2d(
            a[0], ksize[1:3], _attr(node, "strides", "ints")[1:3], _attr(node, "padding", "s")
        )
        count = int(np.prod(ksize))
        return Terms(
            np.asarray(pooled), count + 1, f"mean of {count} values", beyond_float16=beyond
        )
    if op in ACTIVATION_OPS:
        return Terms(a[0], 0, f"{op} on float32 input", ACTIVATION_OPS[op], beyond_float16=beyond)
    return estimated(lambda _v: np.abs(y), xs[0], y, f"graph op {op}", beyond)


def _linear(tf: Any, op: str, node: dict[str, Any], a: list[np.ndarray]) -> tuple[Any, int]:
    """sum |x| |w| per output element, and the number of products in it."""
    x, w = a[0], a[1]
    if op in ("_FusedMatMul", "MatMul"):
        xa = x.T if _attr(node, "transpose_a", "b", False) else x
        wb = w.T if _attr(node, "transpose_b", "b", False) else w
        return xa @ wb, int(wb.shape[0])
    if _attr(node, "data_format", "s", "NHWC") != "NHWC":
        raise ValueError("only NHWC convolutions")
    strides = _attr(node, "strides", "ints")
    dilations = _attr(node, "dilations", "ints", [1, 1, 1, 1])
    padding = _attr(node, "padding", "s")
    if padding == "EXPLICIT":
        p = _attr(node, "explicit_paddings", "ints")
        padding = [[p[0], p[1]], [p[2], p[3]], [p[4], p[5]], [p[6], p[7]]]
    if "Depthwise" in op:
        out = tf.nn.depthwise_conv2d(
            x, w, strides=strides, padding=padding, dilations=dilations[1:3]
        )
        return np.asarray(out), int(w.shape[0] * w.shape[1])
    out = tf.nn.conv2d(x, w, strides=strides, padding=padding, dilations=dilations)
    return np.asarray(out), int(w.shape[0] * w.shape[1] * w.shape[2])


@functools.cache
def _graph_constants(
    converted: Path,
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray], dict[str, Any]]:
    """The converted model's nodes, its constants and the folded batch norms, read once per
    process (a converted model's folder is named by its content, so it never changes): every
    case of a suite reads the same ones."""
    spec = json.loads((converted / "model.json").read_text())
    nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
    return nodes, _weights(converted, spec), _batch_norms(converted)


def _weights(converted: Path, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The converted model's constants by name, dequantised as TF.js dequantises them (both
    sides compute with those values)."""
    try:
        return models.read_tfjs_weights(converted, spec)
    except models.ConversionError:
        return {}  # no terms from weights: the tolerance policy judges those nodes


def _batch_norms(converted: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each fused node whose chain in the frozen graph holds a batch norm: its mean, s =
    scale / sqrt(variance + epsilon) and offset (beta)."""
    tf = tf_runtime.tf()
    from tensorflow.python.framework import tensor_util

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((converted / models.FROZEN).read_bytes())
    frozen = {n.name: n for n in graph_def.node}
    counterparts = graphs.graph_counterparts(converted)

    def const(name: str) -> np.ndarray:
        node = frozen[name.split(":")[0]]
        while node.op == "Identity":  # frozen variables read through Identity nodes
            node = frozen[node.input[0].split(":")[0]]
        if node.op != "Const":
            raise KeyError(name)
        return tensor_util.MakeNdarray(node.attr["value"].tensor)

    out = {}
    for node, end in counterparts.items():
        current = end
        while current in frozen and frozen[current].op in CHAIN:
            n = frozen[current]
            if n.op in BATCH_NORMS:
                try:
                    scale, beta, mean, var = (const(i) for i in n.input[1:5])
                except (KeyError, TypeError, ValueError):
                    break  # not constants: no batch norm terms, and so no budget
                s = scale / np.sqrt(var + n.attr["epsilon"].f)
                out[node] = (mean.astype(np.float64), s.astype(np.float64), beta.astype(np.float64))
                break
            current = n.input[0].split(":")[0]
    return out
