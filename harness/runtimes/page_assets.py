"""What the harness's server gives the page: the page itself, TF.js and the codecs from the npm
tree, the fixtures, and the TF.js models converted (or adopted) for model steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.conversion import converter, graphs, models, signatures
from harness.core import paths
from harness.ops.tf_models import graph_compared_nodes, model_signature
from harness.runtimes.driver import BrowserUnavailable


def web_mounts() -> dict[str, Path]:
    """URL prefix -> folder: only these are served (the user's own folders are added per
    pipeline, ParityServer.serve_module)."""
    if not (paths.PAGE / "index.html").is_file():
        raise BrowserUnavailable(
            f"the harness page is not at {paths.PAGE}: tfjs-parity runs from a checkout "
            "(pip install -e CHECKOUT), or set TFJS_PARITY_HOME=CHECKOUT"
        )
    modules = paths.NODE_MODULES / "@tensorflow"
    if not (modules / "tfjs" / "dist" / "tf.min.js").is_file():
        raise BrowserUnavailable(
            f"TF.js is not installed under {modules}: run `npm ci` in {paths.WEB} "
            "(bin/tfjs-parity and bin/test do it for you)"
        )
    converted = models.CACHE / "models"
    converted.mkdir(parents=True, exist_ok=True)
    node = paths.NODE_MODULES
    return {
        "/": paths.PAGE,
        "/vendor/": modules,
        "/vendor/dicom-parser/": node / "dicom-parser" / "dist",
        "/vendor/pako/": node / "pako" / "dist",
        **{
            f"/vendor/{codec}/": node / "@cornerstonejs" / codec / "dist"
            for codec in ("codec-charls", "codec-openjpeg", "codec-libjpeg-turbo-8bit")
        },
        "/vendor/jpeg-lossless-decoder-js/": node / "jpeg-lossless-decoder-js" / "release",
        "/fixtures/": paths.FIXTURES,
        "/models/": converted,
    }


def served_model(params: dict[str, Any]) -> dict[str, Any]:
    """Where the page loads a model step's TF.js model (the user's own, or converted here), its
    inputs and outputs ({name, node} each, in the model's order: the names the Python side
    uses), and for a GraphModel the nodes to fetch (the converted graph's computing nodes in
    order, those of the user's own model when it has them too) and what each reads."""
    source = Path(params["path"])
    own = params.get("tfjs_model")
    served = models.adopt(Path(own)) if own else converter.convert(source, params["format"])
    sig = model_signature(str(source), params["format"])
    if own:
        _check_ports(sig, signatures.signature(served), Path(own))
    extra: dict[str, Any] = {
        "url": f"/models/{served.name}/model.json",
        "inputs": [{"name": p.name, "node": p.node} for p in sig.inputs],
        "outputs": [{"name": p.name, "node": p.node} for p in sig.outputs],
    }
    if params["format"] == "layers":
        return extra
    nodes = graph_compared_nodes(str(source))
    graph = graphs.graph_nodes(served)
    if own:
        nodes = [n for n in nodes if n in graph.ops]
    extra["nodes"] = nodes
    # what each node reads, where all of it is compared (so Python has a value to feed)
    available = {*nodes, *graph.inputs}
    extra["feeds"] = {
        n: list(graph.feeds[n])
        for n in nodes
        if n in graph.feeds and set(graph.feeds[n]) <= available
    }
    return extra


def _check_ports(ours: signatures.Signature, theirs: signatures.Signature, own: Path) -> None:
    """The user's TF.js model must have the inputs and outputs the Python model has, by the
    node (graph) or layer each is read at: matched by name, never by position."""
    for kind, want, have in (
        ("input", ours.inputs, theirs.inputs),
        ("output", ours.outputs, theirs.outputs),
    ):
        nodes = {p.node for p in have}
        missing = [p for p in want if p.node not in nodes]
        if missing:
            raise models.ConversionError(
                f"{own}: the TF.js model has no {kind} "
                + ", ".join(f"{p.node!r} ({kind} {p.name!r} of the Python model)" for p in missing)
                + f"; its {kind}s are {', '.join(sorted(nodes)) or 'none'}"
            )
