"""A converted GraphModel's nodes: the computing nodes in an order where inputs come first (what
each fused, what feeds it alone, which sit inside a while loop), and for each the node of TF's
frozen graph it is compared with."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from harness.conversion.models import FROZEN
from harness.core import tf_runtime


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
    deps = {n["name"]: [node_of(i) for i in n.get("input", [])] for n in raw}
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
        sources = [i for i in n.get("input", []) if ops.get(node_of(i)) != "Const"]
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


def node_of(tensor: str) -> str:
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
            consumers.setdefault(node_of(i), []).append(n.name)
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
