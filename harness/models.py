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
import os
import re
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import paths
from harness.runtimes import tf_runtime

FORMATS = ("layers", "graph")
LAYOUT = 3  # what a converted directory holds; 2: a GraphModel keeps its frozen graph; 3: and
# the SavedModel signature's output keys (OUTPUT_KEYS)
FROZEN = "model.json.frozen"  # the converter's name for the frozen graph it keeps
# {"outputs": [[signature key, graph node], ...]} beside a converted GraphModel: the converter's
# model.json pairs keys with outputs by shape and dtype alone, so two outputs of one shape come
# out under tensor names ("Identity:0") instead of their keys
OUTPUT_KEYS = "parity-signature.json"
_lock = threading.Lock()
CACHE = Path(os.environ.get("TFJS_PARITY_CACHE", paths.HOME / ".parity-cache"))


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
    a .h5/.keras file (LayersModel or GraphModel) or a SavedModel directory (GraphModel)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if not source.exists():
        raise ConversionError(f"{source}: no such model file or directory")
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
    """The user's own converted TF.js model, copied into the served cache by content (the
    server serves only its own roots): model.json and the weight files its manifest names."""
    spec_path = model_dir / "model.json"
    try:
        spec = json.loads(spec_path.read_text())
        files = [f for group in spec["weightsManifest"] for f in group["paths"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConversionError(f"{spec_path}: not a TF.js model.json ({e})") from e
    h = hashlib.sha256(f"{LAYOUT}|tfjs".encode())
    for name in ["model.json", *files]:
        source = (model_dir / name).resolve()
        if not source.is_relative_to(model_dir.resolve()) or not source.is_file():
            raise ConversionError(f"{spec_path}: weight file {name!r} is missing")
        h.update(name.encode())
        h.update(source.read_bytes())
    out = (cache or CACHE) / "models" / f"{model_dir.name}-tfjs-{h.hexdigest()[:32]}"
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
        model = tf.keras.models.load_model(source, compile=False)
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


def _keras3(source: Path, text: str) -> str | None:
    """A Keras 3 file read by tf_keras fails on the config keys Keras 3 writes (`batch_shape`,
    `optional` in its InputLayer)."""
    if "Unrecognized keyword arguments" not in text or "batch_shape" not in text:
        return None
    return (
        f"{source}: saved by Keras 3, which TF.js 4.22 and its converter cannot load; save the "
        "model with tf_keras (Keras 2: TF_USE_LEGACY_KERAS=1) or as a SavedModel "
        f"({text.splitlines()[0]})"
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
