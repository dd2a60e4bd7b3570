"""A TF.js model given alone, with no Keras or SavedModel source: adopted as it is for the page,
and the Python side's reference rebuilt from the same JSON and weights (a Keras model for a
LayersModel; for a GraphModel, its GraphDef with the weights as constants and TF.js's fused ops
split back into TF ops)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from harness.conversion.models import FROZEN, ConversionError, adopt, lock, read_tfjs_weights
from harness.core import tf_runtime
from harness.specs.model_files import ModelFileError, tfjs_format

REFERENCE_H5 = "parity-reference.h5"  # beside an adopted LayersModel: the Keras model TF runs


def from_tfjs(spec_path: Path, fmt: str, cache: Path | None = None) -> Path:
    """A TF.js model given alone (no Keras or SavedModel source): adopted as it is for the page,
    with the Python side's reference built from the same JSON and weights beside it, once:

    - a LayersModel: tensorflowjs's own loader (converters/keras_tfjs_loader.py) rebuilds the
      tf_keras model with the weights (dequantised), saved as REFERENCE_H5;
    - a GraphModel: the GraphDef of `modelTopology` with each weight as a constant
      (dequantised), and TF.js's fused ops (_FusedConv2D, FusedDepthwiseConv2dNative,
      _FusedMatMul) split back into TF ops, the last keeping the fused node's name, written as
      FROZEN: every node TF.js computes has a TF node of its name.

    What such a run checks is TF.js's kernels against TF's on the same weights, not a
    conversion."""
    try:
        found = tfjs_format(spec_path)
    except ModelFileError as e:
        raise ConversionError(str(e)) from None
    if fmt != found:
        raise ConversionError(f"{spec_path}: a TF.js {found} model, not {fmt}")
    out = adopt(spec_path, cache)
    target = out / (REFERENCE_H5 if fmt == "layers" else FROZEN)
    with lock:
        if not target.is_file():
            tmp = out / f".{target.name}.{os.getpid()}.tmp"
            try:
                build = _keras_reference if fmt == "layers" else _graph_reference
                build(out, tmp, spec_path)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
    return out


def _keras_reference(model_dir: Path, out: Path, shown: Path) -> None:
    tf_runtime.tf()
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    from tensorflowjs.converters import keras_tfjs_loader

    spec = json.loads((model_dir / "model.json").read_text())
    config = spec["modelTopology"].get("model_config", spec["modelTopology"])
    layers = config.get("config", {})
    layers = layers.get("layers", []) if isinstance(layers, dict) else layers
    unknown = sorted(
        {
            la["class_name"]
            for la in layers
            if not hasattr(tf_runtime.keras().layers, la["class_name"])
        }
    )
    if unknown:
        raise ConversionError(
            f"{shown}: layer class(es) {', '.join(unknown)} are not Keras layers: the Python "
            "side cannot rebuild them (a custom layer needs its Keras source: give --model)"
        )
    try:
        model = keras_tfjs_loader.load_keras_model(str(model_dir / "model.json"))
    except (ValueError, TypeError, KeyError) as e:
        raise ConversionError(
            f"{shown}: tensorflowjs cannot rebuild this LayersModel in Keras ({e})"
        ) from e
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You are saving your model as an HDF5")
        model.save(out, save_format="h5")


# TF.js-only fused ops -> the TF op of their first step (inputs: x, weight, then one argument
# per fused step that takes one; tfjs-converter operations/executors/convolution_executor.ts)
_FUSED = {
    "_FusedConv2D": "Conv2D",
    "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
    "_FusedMatMul": "MatMul",
}
# attributes each base op keeps from the fused node
_BASE_ATTRS = {
    "Conv2D": ("T", "strides", "padding", "data_format", "dilations", "explicit_paddings",
               "use_cudnn_on_gpu"),
    "DepthwiseConv2dNative": ("T", "strides", "padding", "data_format", "dilations",
                              "explicit_paddings"),
    "MatMul": ("T", "transpose_a", "transpose_b"),
}  # fmt: skip


def _graph_reference(model_dir: Path, out: Path, shown: Path) -> None:
    tf = tf_runtime.tf()
    from google.protobuf import json_format

    spec = json.loads((model_dir / "model.json").read_text())
    graph = tf.compat.v1.GraphDef()
    try:
        json_format.ParseDict(spec["modelTopology"], graph, ignore_unknown_fields=True)
    except json_format.ParseError as e:
        raise ConversionError(f"{shown}: its modelTopology is not a GraphDef ({e})") from e
    weights = read_tfjs_weights(model_dir, spec)
    empty = [n.name for n in graph.node if n.op == "Const" and n.name not in weights
             and not n.attr["value"].HasField("tensor")]  # fmt: skip
    if empty:
        raise ConversionError(
            f"{shown}: constant node(s) {', '.join(empty[:5])} have no weight in its "
            "weightsManifest"
        )
    nodes = []
    for node in graph.node:
        if node.op == "Const" and node.name in weights:
            value = weights[node.name]
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
        try:
            nodes += _split_fused(tf, node) if node.op in _FUSED else [node]
        except ConversionError as e:
            raise ConversionError(f"{shown}: {e}") from None
    del graph.node[:]
    graph.node.extend(nodes)
    try:
        with tf.Graph().as_default():
            tf.compat.v1.import_graph_def(graph, name="")
    except (ValueError, TypeError) as e:
        raise ConversionError(f"{shown}: TF cannot run the rebuilt graph ({e})") from e
    out.write_bytes(graph.SerializeToString())


def _split_fused(tf: Any, node: Any) -> list[Any]:
    """A fused node as the TF ops it computes, the last named as the fused node."""
    steps = [s.decode() for s in node.attr["fused_ops"].list.s]
    base = _FUSED[node.op]
    data = [i for i in node.input if not i.startswith("^")]
    control = [i for i in node.input if i.startswith("^")]
    args = data[2:]
    chain = [(base, data[:2])]
    for step in steps:
        if step in ("BiasAdd", "Prelu"):
            chain.append((step, [args.pop(0)]))
        elif step == "FusedBatchNorm":
            chain.append(("FusedBatchNormV3", args[:4]))
            args = args[4:]
        elif step == "NoOp":  # the converter's placeholder for "no bias"
            continue
        elif step in ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu"):
            chain.append((step, []))
        else:
            raise ConversionError(f"node {node.name}: fused op {step} is not known to the harness")
    out = []
    previous = None
    for i, (op, extra) in enumerate(chain):
        if op == "Prelu":  # TF has no Prelu op: relu(x) - alpha * relu(-x), the fused name last
            named = node.name if i == len(chain) - 1 else f"{node.name}/parity_{i}"
            out += _prelu(tf, node, previous, extra[0], named)
            previous = out[-1].name
            continue
        n = tf.compat.v1.NodeDef()
        n.name = node.name if i == len(chain) - 1 else f"{node.name}/parity_{i}_{op}"
        n.op = op
        n.input.extend(data[:2] if previous is None else [previous, *extra])
        if previous is None:
            n.input.extend(control)
            for key in _BASE_ATTRS[op]:
                if key in node.attr:
                    n.attr[key].CopyFrom(node.attr[key])
        else:
            n.attr["T"].CopyFrom(node.attr["T"])
        if op == "LeakyRelu":
            n.attr["alpha"].f = node.attr["leakyrelu_alpha"].f
        if op == "FusedBatchNormV3":
            n.attr["epsilon"].f = node.attr["epsilon"].f
            n.attr["U"].CopyFrom(node.attr["T"])
            n.attr["is_training"].b = False
        out.append(n)
        previous = n.name
    return out


def _prelu(tf: Any, fused: Any, x: str, alpha: str, name: str) -> list[Any]:
    """TF.js's prelu (x where x > 0, else alpha * x; tfjs-core ops/prelu.ts) from TF ops:
    relu(x) - alpha * relu(-x), which rounds once (alpha * x) as it does."""

    def node(op: str, suffix: str, *inputs: str) -> Any:
        n = tf.compat.v1.NodeDef()
        n.name, n.op = (name if not suffix else f"{name}/parity_prelu_{suffix}"), op
        n.input.extend(inputs)
        n.attr["T"].CopyFrom(fused.attr["T"])
        return n

    pos = node("Relu", "pos", x)
    neg = node("Neg", "neg", x)
    relu_neg = node("Relu", "relu_neg", neg.name)
    scaled = node("Mul", "scaled", alpha, relu_neg.name)
    return [pos, neg, relu_neg, scaled, node("Sub", "", pos.name, scaled.name)]
