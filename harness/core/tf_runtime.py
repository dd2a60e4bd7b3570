"""Lazy TensorFlow: imported only when a pipeline step needs it (the import costs seconds).

The reference runs TF on a GPU when one is visible, else on the CPU, and says which.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import time
from types import ModuleType
from typing import Any

_tf: ModuleType | None = None
import_seconds: float = 0.0


def tf() -> ModuleType:
    global _tf, import_seconds
    if _tf is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # its CUDA probing logs "errors"
        # tf.keras = tf_keras 2.x: a Keras 3 model converted by tensorflowjs 4.22 does not load in
        # TF.js 4.22 ("An InputLayer should be passed either a batchInputShape or an inputShape")
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        t0 = time.perf_counter()
        import tensorflow

        import_seconds = time.perf_counter() - t0
        _tf = tensorflow
    return _tf


def keras() -> ModuleType:
    """Keras 2 (the tf_keras package), which TF.js 4.22's converter reads and writes. Not
    `tf.keras`: user code that imports TensorFlow before the harness does (a preprocessing
    module, a conftest) fixes what `tf.keras` resolves to, and under TF 2.19 that is Keras 3
    unless TF_USE_LEGACY_KERAS was set before."""
    tf()
    import tf_keras

    return tf_keras


def loaded() -> bool:
    return _tf is not None


def device_name() -> str:
    """'GPU:0' when TF sees a GPU, else 'CPU:0'."""
    return "GPU:0" if tf().config.list_physical_devices("GPU") else "CPU:0"


def device() -> contextlib.AbstractContextManager[Any]:
    return tf().device(device_name())


def describe_device() -> str:
    """What the reference ran on, in words for the report."""
    if not loaded():
        return "CPU (numpy/scikit-image; TensorFlow not needed by these pipelines)"
    gpus = tf().config.list_physical_devices("GPU")
    if gpus:
        details = tf().config.experimental.get_device_details(gpus[0])
        return f"GPU:0 ({details.get('device_name', 'unknown GPU')}) via TensorFlow"
    return "CPU via TensorFlow (no GPU visible)"


def version() -> str | None:
    try:
        return importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        return None


def importable() -> bool:
    """TensorFlow can be imported here (found, and not blocked), without importing it."""
    if loaded():
        return True
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # sys.modules["tensorflow"] = None: blocked
        return False
