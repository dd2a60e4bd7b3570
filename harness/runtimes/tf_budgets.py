"""The float terms (compare/budget.py `Terms`) of each layer of a Keras model: what its sums add up
and how long they are, from the layer's own weights and Python's values of what it reads.

A layer with a linear part (Dense, the convolutions) is run once more with its weights and its
input replaced by their absolute values and no activation: each output element is then the sum
of |terms| that the float rounding bound is proportional to. Layers that compute nothing
(reshapes, max pooling, concatenation) are exact; the others have their terms written out
(batch normalisation, merges, average pooling). A layer class not named here gets an estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.compare.budget import TRANSCENDENTAL_ULPS, Terms, exact
from harness.core import tf_runtime
from harness.ops.keras_layers import compared_layers, keras_model, model_node
from harness.ops.op_terms import beyond_float16, estimated
from harness.ops.tf_models import ModelInput, feeds, model_signature

EXACT = {
    "InputLayer", "Reshape", "Flatten", "Permute", "RepeatVector", "Masking", "Identity",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "Cropping1D", "Cropping2D", "Cropping3D",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "Concatenate", "Maximum", "Minimum",
}  # fmt: skip
LINEAR = {
    "Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D",
    "SeparableConv1D", "SeparableConv2D", "Conv1DTranspose", "Conv2DTranspose",
    "Conv3DTranspose",
}  # fmt: skip
ACTIVATION_LAYERS = {
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Softmax",
    "ThresholdedReLU",
}


def model_terms(
    path: str, model_input: ModelInput, values: Mapping[str, np.ndarray]
) -> dict[str, Terms]:
    """Terms of every layer of the Keras model at `path` (a LayersModel step), by layer name,
    from `values` (Python's output of each layer, by name) and the model's input(s)."""
    model = keras_model(path)
    sig = model_signature(path)
    inputs = feeds(model_input, sig, path)
    known = {**{p.node: a for p, a in zip(sig.inputs, inputs, strict=True)}, **values}
    out: dict[str, Terms] = {}
    with tf_runtime.device():
        for layer in compared_layers(model):
            if layer.name not in known:
                continue
            node = layer.inbound_nodes[model_node(layer)]
            inbound = [lay.name for lay in _flatten(node.inbound_layers)]
            if not all(n in known for n in inbound):
                continue
            xs = [known[n] for n in inbound]
            try:
                out[layer.name] = layer_terms(layer, xs, known[layer.name])
            except (ValueError, TypeError, KeyError, IndexError):
                continue  # a layer this reading cannot rebuild: its tolerance policy judges it
    return out


def layer_terms(layer: Any, xs: list[np.ndarray], y: np.ndarray) -> Terms:
    """The terms of one Keras layer fed `xs` (Python's values of its inputs) giving `y`."""
    kind = type(layer).__name__
    beyond = beyond_float16(*xs, y)
    x = xs[0]
    if kind in EXACT or (kind in ("UpSampling1D", "UpSampling2D", "UpSampling3D", "Resizing")
                         and _interpolation(layer) == "nearest"):  # fmt: skip
        return exact(f"{kind}: moves or picks values, computes none", beyond)
    if kind in LINEAR:
        return Terms(
            _on_abs_weights(layer, x),
            _reduction_length(layer, kind, x),
            f"{kind}: |input| x |weights| + |bias|, then {_activation(layer)}",
            activation=_activation(layer),
            beyond_float16=beyond,
        )
    if kind == "BatchNormalization":
        return _batch_norm(layer, x, beyond)
    if kind == "LayerNormalization":
        return _layer_norm(layer, x, beyond)
    if kind in ("Add", "Subtract", "Average"):
        magnitude = sum(np.abs(v.astype(np.float64)) for v in xs)
        length = max(len(xs) - 1, 1) + (1 if kind == "Average" else 0)
        if kind == "Average":
            magnitude = magnitude / len(xs)
        return Terms(magnitude, length, f"{kind} of {len(xs)} inputs", beyond_float16=beyond)
    if kind == "Multiply":
        magnitude = np.prod([np.abs(v.astype(np.float64)) for v in xs], axis=0)
        return Terms(magnitude, len(xs) - 1, f"product of {len(xs)} inputs", beyond_float16=beyond)
    if kind.startswith(("AveragePooling", "GlobalAveragePooling")):
        magnitude = np.asarray(layer(np.abs(x)), dtype=np.float64)
        length = max(1, math.ceil(x.size / max(y.size, 1))) + 1
        if kind.startswith("AveragePooling"):
            length = int(np.prod(layer.pool_size)) + 1
        return Terms(
            magnitude, length, f"{kind}: mean of {length - 1} values", beyond_float16=beyond
        )
    if kind in ACTIVATION_LAYERS:
        return Terms(
            np.abs(x.astype(np.float64)),
            0,
            f"{kind} ({_activation(layer)}) on float32 input",
            activation=_activation(layer),
            beyond_float16=beyond,
        )
    if kind == "Rescaling":
        magnitude = np.abs(x * float(layer.scale)) + abs(float(layer.offset))
        return Terms(magnitude, 2, "x * scale + offset", beyond_float16=beyond)
    others = [np.abs(a) for a in xs[1:]]  # a merge's other inputs, held at their magnitude
    return estimated(lambda v: layer(v if not others else [v, *others]), x, y, kind, beyond)


def _flatten(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _interpolation(layer: Any) -> str:
    return str(layer.get_config().get("interpolation", "nearest"))


def _activation(layer: Any) -> str:
    kind = type(layer).__name__
    config = layer.get_config()
    if kind == "ReLU":
        return "relu6" if config.get("max_value") else "relu"
    if kind in ("LeakyReLU", "PReLU"):
        return "leaky_relu"
    if kind == "ELU":
        return "elu"
    if kind == "Softmax":
        return "softmax"
    if kind == "ThresholdedReLU":
        return "relu"
    activation = config.get("activation", "linear")
    if isinstance(activation, dict):  # a serialised activation: its registered name
        activation = activation.get("config", {}).get("name") or activation.get("class_name")
    return str(activation or "linear")


def _on_abs_weights(layer: Any, x: np.ndarray) -> np.ndarray:
    """The layer with |weights| and no activation, on |x|: sum |terms| per output element."""
    config = {**layer.get_config(), "activation": "linear", "name": f"{layer.name}_abs_terms"}
    clone = type(layer).from_config(config)
    clone.build(x.shape)
    clone.set_weights([np.abs(w) for w in layer.get_weights()])
    return np.asarray(clone(np.abs(x).astype(np.float32)), dtype=np.float64)


def _reduction_length(layer: Any, kind: str, x: np.ndarray) -> int:
    """Products summed per output element, and the bias."""
    channels = int(x.shape[-1])
    if kind == "Dense":
        return channels + 1
    window = int(np.prod(layer.kernel_size))
    if kind.startswith("Depthwise"):
        return window + 1
    if kind.startswith("Separable"):
        return window + channels * int(layer.depth_multiplier) + 1
    return window * channels // int(getattr(layer, "groups", 1) or 1) + 1


def _batch_norm(layer: Any, x: np.ndarray, beyond: bool) -> Terms:
    """(x - mean) / sqrt(var + eps) * gamma + beta, which TF and TF.js arrange differently:
    its terms are |x s|, |mean s| and |beta| with s = gamma / sqrt(var + eps)."""
    weights = {w.name.split("/")[-1].split(":")[0]: np.asarray(w) for w in layer.weights}
    axis = layer.axis[0] if isinstance(layer.axis, list | tuple) else layer.axis
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    channels = x.shape[axis]
    gamma = weights.get("gamma", np.ones(channels))
    beta = weights.get("beta", np.zeros(channels))
    s = gamma / np.sqrt(weights["moving_variance"] + layer.epsilon)
    magnitude = (
        np.abs(x.astype(np.float64) * s.reshape(shape))
        + np.abs(weights["moving_mean"] * s).reshape(shape)
        + np.abs(beta).reshape(shape)
    )
    return Terms(
        magnitude,
        3 + 2 * TRANSCENDENTAL_ULPS,
        "batch normalisation: |x s| + |mean s| + |beta|, s = gamma / sqrt(var + eps)",
        beyond_float16=beyond,
    )


def _layer_norm(layer: Any, x: np.ndarray, beyond: bool) -> Terms:
    """(x - mean) / sqrt(var + eps) * gamma + beta over `axis`: x - mean costs ULPs of |x| and
    the mean's own error (ULPs of mean |x|), both divided by the std; the std's error (its
    variance summed over the axis, then a square root) is relative to the normalised value."""
    axes = tuple(
        a % x.ndim for a in (layer.axis if isinstance(layer.axis, list | tuple) else [layer.axis])
    )
    x64 = x.astype(np.float64)
    count = int(np.prod([x.shape[a] for a in axes]))
    mean = x64.mean(axis=axes, keepdims=True)
    std = np.sqrt(x64.var(axis=axes, keepdims=True) + layer.epsilon)
    shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
    weights = {w.name.split("/")[-1].split(":")[0]: np.asarray(w) for w in layer.weights}
    gamma = np.abs(weights.get("gamma", np.ones(shape))).reshape(shape)
    beta = np.abs(weights.get("beta", np.zeros(shape))).reshape(shape)
    centred = (np.abs(x64) + np.abs(x64).mean(axis=axes, keepdims=True)) / std
    normalised = np.abs(x64 - mean) / std
    return Terms(
        gamma * (centred + normalised) + beta,
        2 * count + 2 * TRANSCENDENTAL_ULPS,
        f"layer normalisation over {count} values: (|x| + mean |x|) / std and |x - mean| / std",
        beyond_float16=beyond,
    )
