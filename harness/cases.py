"""Input cases: the array both runtimes start from, plus the parameters derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import dicom


@dataclass(frozen=True)
class Case:
    id: str
    input: np.ndarray  # what both runtimes receive, byte for byte
    params: dict[str, Any] = field(default_factory=dict)  # `$name` values for pipeline steps
    meta: dict[str, Any] = field(default_factory=dict)  # provenance, shown in the report


def from_dicom(path: Path, stats_table: str = "seed") -> Case:
    """The motivating code's input: stored pixel values as [rows, cols, 1], mean/std by metadata."""
    image = dicom.read(path)
    mean, std = dicom.stats_for(image, stats_table)
    return Case(
        id=path.stem,
        input=image.pixels[..., np.newaxis],
        params={"mean": mean, "std": std},
        meta={
            "source": str(path),
            "bits_stored": image.bits_stored,
            "photometric": image.photometric,
            "modality": image.modality,
            "transfer_syntax": image.transfer_syntax,
            "shape": list(image.pixels.shape),
            "stored_dtype": str(image.pixels.dtype),
        },
    )
