"""Where and when a reference was computed: what a recorded reference carries, and what a
report says of its reference."""

from __future__ import annotations

import datetime
import platform
from pathlib import Path
from typing import Any

from harness.core import tf_runtime, versions

NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")  # the kernel module's version line


def describe() -> dict[str, Any]:
    """This machine's Python side now: the device TF runs on (describe_device: a GPU's name,
    or the CPU; TF is not imported for it when no pipeline needed it), the GPU driver when
    there is an NVIDIA one, versions, and the date (UTC)."""
    driver = None
    if NVIDIA_DRIVER.is_file():
        driver = NVIDIA_DRIVER.read_text(errors="replace").splitlines()[0].strip() or None
    return {
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": tf_runtime.describe_device(),
        "gpu_driver": driver,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf_runtime.version(),
        "tensorflowjs": versions.python("tensorflowjs"),
        "numpy": versions.python("numpy"),
        "scikit-image": versions.python("scikit-image"),
        "pydicom": versions.python("pydicom"),
        "tfjs-parity": versions.python("tfjs-parity"),
    }


def one_line(provenance: dict[str, Any]) -> str:
    """'recorded 2026-12-01 on GPU:0 (NVIDIA ...) via TensorFlow, TF 2.19.0' (a range of days
    when its records were made over several; TF's version only where TF computed)."""
    first = str(provenance.get("recorded", "?"))[:10]
    last = str(provenance.get("recorded_last", first))[:10]
    day = first if last == first else f"{first} to {last}"
    device = str(provenance.get("device", "?"))
    tf = (
        provenance.get("tensorflow")
        if "TensorFlow" in device and "not needed" not in device
        else None
    )
    return f"recorded {day} on {device}" + (f", TF {tf}" if tf else "")
