"""Keras / SavedModel -> TF.js conversion with tensorflowjs, cached by content.

The cache key is the source's bytes (every file of a SavedModel directory), the target format
and the tensorflowjs version, so a second run with the same model does not convert again and a
changed model never reuses a stale conversion. Conversion problems become ConversionError,
naming the ops or layers TF.js lacks.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

from harness.conversion.models import CACHE, LAYOUT, OUTPUT_KEYS, ConversionError, lock
from harness.conversion.tfjs_reference import from_tfjs
from harness.core import tf_runtime
from harness.specs.model_files import is_tfjs

FORMATS = ("layers", "graph")


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
    with lock:  # one conversion at a time in this process; other processes: see below
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
