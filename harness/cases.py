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
    # the file itself as uint8, for pipelines that start by decoding it (the `decode` op)
    file: np.ndarray | None = None


def from_dicom(path: Path, stats_table: str | None = "seed") -> Case:
    """The motivating code's input: stored pixel values as [rows, cols, 1], mean/std by metadata
    (no statistics table: no mean/std, for pipelines that do not normalise), and the file's
    bytes for pipelines that decode it themselves."""
    image = dicom.read(path)
    params = {}
    if stats_table is not None:
        mean, std = dicom.stats_for(image, stats_table)
        params = {"mean": mean, "std": std}
    return Case(
        id=path.stem,
        input=image.pixels[..., np.newaxis],
        file=np.frombuffer(path.read_bytes(), dtype=np.uint8),
        params=params,
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


def from_file(path: Path) -> Case:
    """A DICOM file as it is, for pipelines that decode it themselves: nothing is decoded here,
    so a file only one side can decode (or neither) still becomes a case and a clear stage
    failure, not a case that cannot load."""
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    return Case(id=path.stem, input=data, file=data, meta={"source": str(path), "kind": "file"})
