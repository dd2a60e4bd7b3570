"""Keras / SavedModel -> TF.js conversion with tensorflowjs, cached by content.

The cache key is the source's bytes (every file of a SavedModel directory), the target format
and the tensorflowjs version, so a second run with the same model does not convert again and a
changed model never reuses a stale conversion. Conversion problems become ConversionError,
naming the ops or layers TF.js lacks.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import re
import shutil
import tempfile
import threading
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.core import paths, tf_runtime
from harness.specs.model_files import ModelFileError, is_tfjs, tfjs_format

FORMATS = ("layers", "graph")
LAYOUT = 3  # what a converted directory holds; 2: a GraphModel keeps its frozen graph; 3: and
# the SavedModel signature's output keys (OUTPUT_KEYS)
FROZEN = "model.json.frozen"  # the converter's name for the frozen graph it keeps
# {"outputs": [[signature key, graph node], ...]} beside a converted GraphModel: the converter's
# model.json pairs keys with outputs by shape and dtype alone, so two outputs of one shape come
# out under tensor names ("Identity:0") instead of their keys
OUTPUT_KEYS = "parity-signature.json"
_lock = threading.Lock()
CACHE = paths.CACHE


class ConversionError(RuntimeError):
    """The model cannot become a TF.js model; the message says which op or layer, and why."""


def content_key(source: Path, fmt: str) -> str:
    """The model's content (and how it is converted), hashed once per process for files whose
    size and modification time are unchanged: a run asks for it per case and per report."""
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    stamps = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _hashed(source, fmt, stamps)


@functools.lru_cache(maxsize=64)
def _hashed(source: Path, fmt: str, stamps: tuple[tuple[str, int, int], ...]) -> str:
    version = importlib.metadata.version("tensorflowjs")
    h = hashlib.sha256(f"{LAYOUT}|{fmt}|tensorflowjs {version}".encode())
    for name, _, _ in stamps:
        f = Path(name)
        h.update(str(f.relative_to(source) if source.is_dir() else f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:32]


def convert(source: Path, fmt: str = "layers", cache: Path | None = None) -> Path:
    """The directory of the TF.js model (model.json + weight shards) for `source`:
    a .h5/.keras file (LayersModel or GraphModel), a SavedModel directory (GraphModel), or a
    TF.js model's JSON file (the model itself, with what the Python side needs beside it: see
    `from_tfjs`)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if not source.exists():
        raise ConversionError(f"{source}: no such model file or directory")
    if is_tfjs(source):
        return from_tfjs(source, fmt, cache)
    if fmt == "layers" and source.is_dir():
        raise ConversionError(
            f"{source}: a SavedModel converts to a GraphModel only (--format graph)"
        )
    out = (cache or CACHE) / "models" / f"{source.stem}-{fmt}-{content_key(source, fmt)}"
    with _lock:  # one conversion at a time in this process; other processes: see below
        if (out / "model.json").is_file():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=out.parent))
        try:
            _convert(source, fmt, tmp)
            os.replace(tmp, out)  # atomic: a reader sees a whole model or none
        except OSError:
            if not (out / "model.json").is_file():  # not another process's finished copy
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def adopt(model_dir: Path, cache: Path | None = None) -> Path:
    """The user's own converted TF.js model (its directory, holding model.json, or its JSON
    file by any name), copied into the served cache by content (the server serves only its
    own roots) as model.json and the weight files its manifest names."""
    spec_path = model_dir if is_tfjs(model_dir) else model_dir / "model.json"
    model_dir = spec_path.parent
    try:
        spec = json.loads(spec_path.read_text())
        files = [f for group in spec["weightsManifest"] for f in group["paths"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConversionError(f"{spec_path}: not a TF.js model.json ({e})") from e
    h = hashlib.sha256(f"{LAYOUT}|tfjs".encode())
    h.update(spec_path.read_bytes())  # its content, under whatever name it has
    for name in files:
        source = (model_dir / name).resolve()
        if not source.is_relative_to(model_dir.resolve()):
            raise ConversionError(
                f"{spec_path}: weight file {name!r} is outside the model's folder "
                f"{model_dir}: only files inside it are served"
            )
        if not source.is_file():
            raise ConversionError(f"{spec_path}: weight file {name!r} is missing")
        h.update(name.encode())
        h.update(source.read_bytes())
    _check_sizes(spec_path, spec["weightsManifest"])
    name = model_dir.name if spec_path.name == "model.json" else spec_path.stem
    out = (cache or CACHE) / "models" / f"{name}-tfjs-{h.hexdigest()[:32]}"
    with _lock:
        if not (out / "model.json").is_file():
            tmp = Path(tempfile.mkdtemp(prefix=".adopting-", dir=_mkdir(out.parent)))
            try:
                for name in files:
                    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(model_dir / name, tmp / name)
                shutil.copyfile(spec_path, tmp / "model.json")
                os.replace(tmp, out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return out


# bytes per value as stored (tfjs-core io/types.ts DTYPE_VALUE_SIZE_MAP, quantization dtypes)
_STORED_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}


def _check_sizes(spec_path: Path, manifest: list[dict[str, Any]]) -> None:
    """Each weight group's files must hold the bytes its manifest declares (a shard cut short
    by a download is found here, by name, not deep inside a loader)."""
    for group in manifest:
        declared = 0
        for w in group["weights"]:
            dtype = w.get("quantization", {}).get("dtype", w["dtype"])
            if dtype not in _STORED_BYTES:  # strings: their size is in their bytes
                return
            declared += math.prod(w["shape"]) * _STORED_BYTES[dtype]
        held = sum((spec_path.parent / p).stat().st_size for p in group["paths"])
        if held < declared:
            raise ConversionError(
                f"{spec_path}: the weight files {', '.join(group['paths'])} hold {held} bytes; "
                f"its weightsManifest declares {declared} (a shard cut short?)"
            )


def read_tfjs_weights(model_dir: Path, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """A TF.js model's weights by name, dequantised (uint8/uint16 -> min + q * scale, float16
    -> float32) by tensorflowjs's own reader (tensorflowjs/read_weights.py)."""
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    from tensorflowjs import read_weights

    try:
        groups = read_weights.read_weights(spec["weightsManifest"], str(model_dir))
    except (OSError, ValueError, KeyError) as e:
        raise ConversionError(f"{model_dir}: its weights cannot be read ({e})") from e
    return {w["name"]: np.asarray(w["data"]) for group in groups for w in group}


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _convert(source: Path, fmt: str, out: Path) -> None:
    tf = tf_runtime.tf()
    # tensorflowjs imports tensorflow_decision_forests, whose welcome banner imports IPython
    # whenever stdout is not a terminal (pytest, pipes): IPython is not installed.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    import tensorflowjs as tfjs

    try:
        if source.is_dir():
            tfjs.converters.convert_tf_saved_model(str(source), str(out), frozen_graph_dir=str(out))
            _write_output_keys(tf, source, out)
            return
        if keras3 := _keras3_file(source):
            raise ConversionError(keras3)
        model = tf_runtime.keras().models.load_model(source, compile=False)
        if fmt == "layers":
            with warnings.catch_warnings():  # the converter itself saves HDF5 on the way
                warnings.filterwarnings("ignore", "You are saving your model as an HDF5")
                tfjs.converters.save_keras_model(model, str(out))
        else:
            with tempfile.TemporaryDirectory() as saved:
                tf.saved_model.save(model, saved)
                tfjs.converters.convert_tf_saved_model(saved, str(out), frozen_graph_dir=str(out))
                _write_output_keys(tf, Path(saved), out)
    except ValueError as e:
        raise ConversionError(_explain(source, e)) from e
    except (OSError, TypeError) as e:
        raise ConversionError(
            _keras3(source, str(e)) or f"{source}: cannot be loaded as a Keras model ({e})"
        ) from e


def _write_output_keys(tf: Any, saved_model: Path, out: Path) -> None:
    """The serving signature's output keys, each with the graph node that computes it: the
    converter freezes `signature.outputs` (Identity, Identity_1, ...), which are the
    structured outputs flattened, and tf.nest flattens a dict in sorted key order."""
    function = tf.saved_model.load(str(saved_model)).signatures.get("serving_default")
    if function is None:
        return
    structured = function.structured_outputs
    keys = sorted(structured) if isinstance(structured, dict) else None
    nodes = [t.name for t in function.outputs]
    if keys is None or len(keys) != len(nodes) or any(not n.endswith(":0") for n in nodes):
        return  # not a flat dict of tensors: the model.json's own keys stand
    pairs = [[k, n.removesuffix(":0")] for k, n in zip(keys, nodes, strict=True)]
    (out / OUTPUT_KEYS).write_text(json.dumps({"outputs": pairs}) + "\n")


def _keras3_file(source: Path) -> str | None:
    """A Keras file whose own metadata says Keras 3 wrote it (a .keras zip's metadata.json,
    an HDF5 file's `keras_version` attribute)."""
    version = ""
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as z:
                version = json.loads(z.read("metadata.json")).get("keras_version", "")
        else:
            import h5py

            with h5py.File(source, "r") as f:
                version = f.attrs.get("keras_version", "")
                version = version.decode() if isinstance(version, bytes) else str(version)
    except (OSError, KeyError, ValueError):
        return None
    if not version.startswith("3"):
        return None
    return _keras3_message(source, f"the file says keras_version {version}")


def _keras3(source: Path, text: str) -> str | None:
    """A Keras 3 file read by tf_keras fails on the config keys Keras 3 writes (`batch_shape`,
    `optional` in its InputLayer)."""
    if "Unrecognized keyword arguments" not in text or "batch_shape" not in text:
        return None
    return _keras3_message(source, text.splitlines()[0])


def _keras3_message(source: Path, detail: str) -> str:
    return (
        f"{source}: saved by Keras 3, which TF.js 4.22 and its converter cannot load; save the "
        f"model with tf_keras (Keras 2: TF_USE_LEGACY_KERAS=1) or as a SavedModel ({detail})"
    )


def _explain(source: Path, error: Exception) -> str:
    text = str(error)
    if text.startswith("Unsupported Ops"):
        ops = [line.strip() for line in text.splitlines()[1:] if line.strip()]
        return (
            f"{source}: TF.js has no kernel for op(s) {', '.join(ops) or '(unnamed)'}; "
            "replace them in the model or register custom ops in TF.js"
        )
    if keras3 := _keras3(source, text):
        return keras3
    layer = re.search(r"Unknown layer: '?(\w+)'?", text)
    if layer:
        return f"{source}: layer {layer.group(1)} is unknown to the converter ({text})"
    return f"{source}: conversion failed: {text}"


@dataclass(frozen=True)
class GraphNodes:
    """A converted GraphModel's computing nodes, in an order where inputs come first."""

    inputs: tuple[str, ...]  # Placeholder names
    nodes: tuple[str, ...]  # every node that is neither a constant nor an input
    ops: dict[str, str]  # node -> op as the converter wrote it (e.g. _FusedConv2D)
    fused: dict[str, tuple[str, ...]]  # fused node -> what it fused, e.g. (BiasAdd, Relu6)
    # node -> the computing nodes and inputs it reads, for feeding it alone; a node reading a
    # second output of another node, or with a control input, is not fed alone (absent)
    feeds: dict[str, tuple[str, ...]]
    # nodes inside a while loop's frame (from its Enter nodes up to, not including, its Exit
    # nodes): a value per iteration, which neither TF's session nor TF.js can fetch
    in_loop: frozenset[str] = frozenset()


def graph_nodes(model_dir: Path) -> GraphNodes:
    """The nodes the page and Python both evaluate. model.json lists nodes in no useful order,
    so they are sorted topologically (ties kept in file order)."""
    spec = json.loads((model_dir / "model.json").read_text())
    raw = spec["modelTopology"]["node"]
    ops = {n["name"]: n["op"] for n in raw}
    deps = {n["name"]: [_node_of(i) for i in n.get("input", [])] for n in raw}
    order: list[str] = []
    seen: set[str] = set()
    for name in ops:  # iterative depth-first post-order: deep graphs do not hit recursion limits
        stack = [(name, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node in seen or node not in ops:
                continue
            seen.add(node)
            stack.append((node, True))
            stack.extend((d, False) for d in reversed(deps[node]) if d not in seen)
    inputs = tuple(n for n in order if ops[n] == "Placeholder")
    nodes = tuple(n for n in order if ops[n] not in ("Const", "Placeholder"))
    computing = set(nodes)
    fused: dict[str, tuple[str, ...]] = {}
    feeds: dict[str, tuple[str, ...]] = {}
    for n in (n for n in raw if n["name"] in computing):
        steps = n.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", [])
        if steps:
            fused[n["name"]] = tuple(base64.b64decode(x).decode() for x in steps)
        sources = [i for i in n.get("input", []) if ops.get(_node_of(i)) != "Const"]
        if all(":" not in i and not i.startswith("^") for i in sources):
            feeds[n["name"]] = tuple(sources)
    readers: dict[str, list[str]] = {}
    for name, sources in deps.items():
        for source in sources:
            readers.setdefault(source, []).append(name)
    in_loop: set[str] = set()
    frontier = [n for n in nodes if ops[n] == "Enter"]
    while frontier:
        node = frontier.pop()
        if node in in_loop or ops.get(node) == "Exit":
            continue
        in_loop.add(node)
        frontier.extend(readers.get(node, []))
    return GraphNodes(inputs, nodes, {n: ops[n] for n in nodes}, fused, feeds, frozenset(in_loop))


def _node_of(tensor: str) -> str:
    """The node a graph input names: "^ctrl" and "node:1" both point at a node."""
    return tensor.lstrip("^").split(":")[0]


# How the frozen graph spells what a fused TF.js node folded in: a batch norm becomes the
# fused BiasAdd when the converter folds it.
_BATCH_NORMS = {"FusedBatchNorm", "FusedBatchNormV3"}
_BIAS_LIKE = {"BiasAdd", "Add", "AddV2", *_BATCH_NORMS}
_BASE_OPS = {"Conv2D", "DepthwiseConv2dNative", "MatMul"}


def graph_counterparts(model_dir: Path) -> dict[str, str | None]:
    """For each computing node of the converted graph, the frozen-graph node TF evaluates to
    compare with it: the node of the same name, or for a fused node named after its first op
    (FusedDepthwiseConv2dNative keeps the depthwise conv's name), the end of the chain it
    fused (conv -> batch norm -> Relu6). None when the chain cannot be followed: that node is
    not compared rather than compared with the wrong tensor."""
    tf = tf_runtime.tf()
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((model_dir / FROZEN).read_bytes())
    frozen_ops = {n.name: n.op for n in graph_def.node}
    consumers: dict[str, list[str]] = {}
    for n in graph_def.node:
        for i in n.input:
            consumers.setdefault(_node_of(i), []).append(n.name)
    graph = graph_nodes(model_dir)
    out: dict[str, str | None] = {}
    for node in graph.nodes:
        if node not in frozen_ops:
            out[node] = None
            continue
        remaining = list(graph.fused.get(node, ()))
        op = frozen_ops[node]
        if op not in _BASE_OPS:  # named after a later op of the chain: what is left after it
            remaining = remaining[1:] if op in _BIAS_LIKE and remaining[:1] == ["BiasAdd"] else []
        out[node] = _follow(node, remaining, frozen_ops, consumers)
    return out


def _follow(
    node: str, wanted: list[str], ops: dict[str, str], consumers: dict[str, list[str]]
) -> str | None:
    current = node
    for want in wanted:
        nxt = _only_consumer(current, _BIAS_LIKE if want == "BiasAdd" else {want}, ops, consumers)
        if nxt is None:
            return None
        current = nxt
        if want == "BiasAdd":  # a bias then a batch norm both fold into the one fused BiasAdd
            current = _only_consumer(current, _BATCH_NORMS, ops, consumers) or current
    return current


def _only_consumer(
    node: str, accepted: set[str], ops: dict[str, str], consumers: dict[str, list[str]]
) -> str | None:
    found = [c for c in consumers.get(node, []) if ops[c] in accepted]
    return found[0] if len(found) == 1 else None


def describe(model_dir: Path) -> dict[str, Any]:
    """Format, layer or node count and weight bytes of a converted model, for reports."""
    spec = json.loads((model_dir / "model.json").read_text())
    topology = spec.get("modelTopology", {})
    if spec.get("format") == "layers-model":
        layers = topology.get("model_config", {}).get("config", {}).get("layers", [])
        count = {"layers": len(layers)}
    else:
        count = {"nodes": len(topology.get("node", []))}
    weights = sum(p.stat().st_size for p in model_dir.glob("*.bin"))
    return {"format": spec.get("format"), **count, "weight_bytes": weights}


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
        read = {_node_of(i) for n in nodes.values() for i in n.get("input", [])}
        outputs = [
            Port(name, name, "float32", None)
            for name, n in nodes.items()
            if name not in read and n.get("op") not in ("Const", "Placeholder", "NoOp")
        ]
    return Signature(tuple(inputs), tuple(outputs))


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
    with _lock:
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
