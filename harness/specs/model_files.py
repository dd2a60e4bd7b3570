"""What a model path in a pipeline file is: a TF.js model's JSON and its format, read from the
file alone (no TensorFlow, no conversion)."""

from __future__ import annotations

import json
from pathlib import Path


class ModelFileError(ValueError):
    """A file given as a TF.js model is not one."""


def is_tfjs(source: Path) -> bool:
    """A TF.js model's JSON file (model.json, or any name.json)."""
    return source.suffix == ".json" and source.is_file()


def tfjs_format(spec_path: Path) -> str:
    """layers or graph, as the TF.js model's JSON says (`format`, else its topology)."""
    try:
        spec = json.loads(spec_path.read_text())
        topology = spec["modelTopology"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{spec_path}: not a TF.js model JSON ({e})") from None
    if spec.get("format") == "layers-model" or "model_config" in topology:
        return "layers"
    if spec.get("format") == "graph-model" or "node" in topology:
        return "graph"
    raise ModelFileError(f"{spec_path}: neither a layers nor a graph model's topology")
