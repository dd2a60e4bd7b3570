"""Keras / SavedModel -> TF.js conversion with tensorflowjs, cached by content.

The cache key is the source's bytes (every file of a SavedModel directory), the target format
and the tensorflowjs version, so a second run with the same model does not convert again and a
changed model never reuses a stale conversion. Conversion problems become ConversionError,
naming the ops or layers TF.js lacks.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from harness.runtimes import tf_runtime

FORMATS = ("layers", "graph")
_lock = threading.Lock()
CACHE = Path(
    os.environ.get("TFJS_PARITY_CACHE", Path(__file__).resolve().parents[1] / ".parity-cache")
)


class ConversionError(RuntimeError):
    """The model cannot become a TF.js model; the message says which op or layer, and why."""


def content_key(source: Path, fmt: str) -> str:
    h = hashlib.sha256(f"{fmt}|tensorflowjs {importlib.metadata.version('tensorflowjs')}".encode())
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    for f in files:
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


def _convert(source: Path, fmt: str, out: Path) -> None:
    tf = tf_runtime.tf()
    # tensorflowjs imports tensorflow_decision_forests, whose welcome banner imports IPython
    # whenever stdout is not a terminal (pytest, pipes): IPython is not installed.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    import tensorflowjs as tfjs

    try:
        if source.is_dir():
            tfjs.converters.convert_tf_saved_model(str(source), str(out))
            return
        model = tf.keras.models.load_model(source, compile=False)
        if fmt == "layers":
            with warnings.catch_warnings():  # the converter itself saves HDF5 on the way
                warnings.filterwarnings("ignore", "You are saving your model as an HDF5")
                tfjs.converters.save_keras_model(model, str(out))
        else:
            with tempfile.TemporaryDirectory() as saved:
                tf.saved_model.save(model, saved)
                tfjs.converters.convert_tf_saved_model(saved, str(out))
    except ValueError as e:
        raise ConversionError(_explain(source, e)) from e
    except (OSError, TypeError) as e:
        raise ConversionError(f"{source}: cannot be loaded as a Keras model ({e})") from e


def _explain(source: Path, error: Exception) -> str:
    text = str(error)
    if text.startswith("Unsupported Ops"):
        ops = [line.strip() for line in text.splitlines()[1:] if line.strip()]
        return (
            f"{source}: TF.js has no kernel for op(s) {', '.join(ops) or '(unnamed)'}; "
            "replace them in the model or register custom ops in TF.js"
        )
    layer = re.search(r"Unknown layer: '?(\w+)'?", text)
    if layer:
        return f"{source}: layer {layer.group(1)} is unknown to the converter ({text})"
    return f"{source}: conversion failed: {text}"


def describe(model_dir: Path) -> dict[str, Any]:
    """Format, layer or node count and weight bytes of a converted model, for reports."""
    import json

    spec = json.loads((model_dir / "model.json").read_text())
    topology = spec.get("modelTopology", {})
    if spec.get("format") == "layers-model":
        layers = topology.get("model_config", {}).get("config", {}).get("layers", [])
        count = {"layers": len(layers)}
    else:
        count = {"nodes": len(topology.get("node", []))}
    weights = sum(p.stat().st_size for p in model_dir.glob("*.bin"))
    return {"format": spec.get("format"), **count, "weight_bytes": weights}
