"""What a session ran with: versions, the reference device, each browser and its backends."""

from __future__ import annotations

import platform
from typing import Any

from harness.core import tf_runtime, versions
from harness.runtimes.browsers import Browsers


def describe(browsers: Browsers | None, reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """report.json's `environment`; `browsers` None: no browser started yet; `reference`:
    where the reference came from (ReferenceSide.describe)."""
    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": versions.python("numpy"),
        "scikit-image": versions.python("scikit-image"),
        "pydicom": versions.python("pydicom"),
        "tensorflow": tf_runtime.version(),
        "tensorflowjs": versions.python("tensorflowjs"),
        "tfjs": versions.npm("@tensorflow/tfjs"),
        "reference_device": tf_runtime.describe_device(),
        "browsers": browsers.environment() if browsers else {},
        **({"reference": reference} if reference is not None else {}),
    }
    if reference is not None and reference.get("mode") == "recorded":  # not this machine's
        out["reference_device"] = recorded_device(reference)
    return out


def recorded_device(reference: dict[str, Any]) -> str | None:
    """`reference_device` of a recorded reference: the devices its records were made on."""
    devices = sorted({str(p.get("device")) for p in reference.get("provenance", ())})
    return "recorded: " + "; ".join(devices) if devices else None
