"""What a session ran with: versions, the reference device, each browser and its backends."""

from __future__ import annotations

import platform
from typing import Any

from harness.core import tf_runtime, versions
from harness.runtimes.browsers import Browsers


def describe(browsers: Browsers | None) -> dict[str, Any]:
    """report.json's `environment`; `browsers` None: no browser started yet."""
    return {
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
    }
