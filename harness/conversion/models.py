"""TF.js models in the harness's cache: what a converted model's folder holds (its frozen graph,
its signature's output keys), ConversionError, the user's own TF.js model adopted into the cache
by content, a TF.js model's weights read back, and a converted model described for reports."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from harness.core import paths
from harness.specs.model_files import is_tfjs

LAYOUT = 3  # what a converted directory holds; 2: a GraphModel keeps its frozen graph; 3: and
# the SavedModel signature's output keys (OUTPUT_KEYS)
FROZEN = "model.json.frozen"  # the converter's name for the frozen graph it keeps
# {"outputs": [[signature key, graph node], ...]} beside a converted GraphModel: the converter's
# model.json pairs keys with outputs by shape and dtype alone, so two outputs of one shape come
# out under tensor names ("Identity:0") instead of their keys
OUTPUT_KEYS = "parity-signature.json"
lock = threading.Lock()
CACHE = paths.CACHE


class ConversionError(RuntimeError):
    """The model cannot become a TF.js model; the message says which op or layer, and why."""


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
    with lock:
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
