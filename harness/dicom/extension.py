"""DICOM as an extension of the harness (specs/extensions.py), registered in pyproject.toml
under the entry point group `tfjs_parity.extensions`: the `decode` op (pydicom in Python,
dicom-parser and web/page/codecs.js in the page), the `dicom` kind of case (a file decoded
here, with mean/std from a statistics table), and what a report says about a decode stage
(the file's transfer syntax and the decoder each side used for it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness import dicom
from harness.dicom import codecs
from harness.specs.cases import Case
from harness.specs.extensions import CaseKind, Extension
from harness.specs.op_schemas import OpSchema
from harness.specs.params import Param, boolean, integer, one_of, optional


def from_dicom(path: Path, stats_table: str | None = None, case_id: str | None = None) -> Case:
    """The motivating code's input: stored pixel values as [rows, cols, 1]; mean/std by the
    image's metadata from `stats_table` (a bundled table's name, e.g. "seed", or a .json
    table's path; None: no mean/std, for pipelines that do not normalise); and the file's
    bytes for pipelines that decode it themselves. Raises DicomError."""
    image = dicom.read(path)
    params = {}
    if stats_table is not None:
        mean, std = dicom.stats_for(image, stats_table)
        params = {"mean": mean, "std": std}
    return Case(
        id=case_id or path.name,
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


def decode(x: np.ndarray, frame: int, values: str, plugin: str | None) -> np.ndarray:
    """The `decode` op's Python side: the case's file bytes (uint8) -> one frame's stored
    values as [rows, cols, 1] int32, or with values="modality" the rescaled float64 values."""
    pixels = dicom.decode(x.tobytes(), frame, modality=values == "modality", plugin=plugin)
    return (pixels if values == "modality" else pixels.astype(np.int32))[..., np.newaxis]


def decoding(file: bytes, python: Mapping[str, Any]) -> dict[str, Any]:
    """A decode stage's transfer syntax, and the decoder each side used for it."""
    uid, syntax = dicom.transfer_syntax(file)
    return {
        "transfer_syntax": syntax,
        "python": codecs.python_decoder(uid, python.get("plugin")),
        "js": codecs.js_decoder(uid),
    }


def _stats(name: str, value: Any, base: Path) -> Any:
    """A case list's "stats": null, a bundled table's name, or a .json table's path made
    absolute (relative to the listing file). ValueError for anything else."""
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(
            f"{value!r}: null, a bundled table's name (e.g. \"seed\"), or a .json table's path"
        )
    if isinstance(value, str) and value.lower().endswith(".json"):
        return str((base / value).resolve())
    return value


def _is_dicom(path: Path) -> bool:
    """The DICOM preamble's magic, or the usual suffix."""
    try:
        with path.open("rb") as f:
            f.seek(128)
            if f.read(4) == b"DICM":
                return True
    except OSError:
        return False
    return path.suffix.lower() in (".dcm", ".dicom")


EXTENSION = Extension(
    name="dicom",
    ops={
        # The case's DICOM file -> stored pixel values of one frame, [rows, cols, 1] int32
        # (TF.js has no uint16; int32 holds every stored value exactly). Python: pydicom; the
        # page: dicom-parser. Only as the first step.
        # `apply_bits_stored` false reads the raw 16-bit words (no masking, no sign extension
        # from HighBit), as a naive decoder does.
        # `values` modality applies RescaleSlope/RescaleIntercept (Python: pydicom's modality
        # LUT, float64; the page: float32).
        # `plugin` (Python): the pydicom decoding plugin for a compressed file; null: the one
        # web/page/codecs.json names for its transfer syntax.
        "decode": OpSchema(
            common={
                "frame": Param(integer, 0),
                "values": Param(one_of("stored", "modality"), "stored"),
            },
            python={"plugin": Param(optional(one_of(*dicom.PLUGINS)), None)},
            js={"apply_bits_stored": Param(boolean, True)},
        ),
    },
    python_ops={"decode": decode},
    case_kinds={
        "dicom": CaseKind(
            load=lambda path, case_id, options: from_dicom(path, options["stats"], case_id),
            options={"stats": None},
            resolve=_stats,
            claims=_is_dicom,
        )
    },
    stage_details={"decode": decoding},
    input_errors=(dicom.DicomError,),
)
