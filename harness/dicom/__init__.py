"""DICOM decoding and the metadata-driven normalisation of the motivating case.

A statistics table is data (fixtures/stats/seed.json is the motivating user's own): mean/std
are chosen from (BitsStored, PhotometricInterpretation), and any other combination is an error
naming both.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.core import paths
from harness.dicom import codecs


class DicomError(ValueError):
    """A DICOM file that cannot be used, said in the user's terms."""


# Statistics tables named in case lists ("stats": NAME) are these files; a table may also be
# given as a path to a .json file of the same form (relative to the listing file).
BUNDLED_STATS = paths.FIXTURES / "stats"
# pydicom's decoding plugins a pipeline may name (installed: pydicom's own, pylibjpeg, pillow).
PLUGINS = ("pydicom", "pylibjpeg", "pillow")


@dataclass(frozen=True)
class DicomImage:
    path: Path
    pixels: np.ndarray  # [rows, columns], the stored values as pydicom returns them
    bits_stored: int
    photometric: str
    modality: str
    transfer_syntax: str


def read(path: Path) -> DicomImage:
    """The file's single greyscale frame, as pydicom decodes it, with what the stats need."""
    ds, frames = _dataset(path, path.name)
    if frames != 1:
        raise DicomError(
            f"{path.name}: {frames} frames; only single-frame images are supported here "
            "(a pipeline's decode step picks a frame)"
        )
    return DicomImage(
        path=path,
        pixels=_pixels(ds, path.name),
        bits_stored=int(ds.BitsStored),
        photometric=str(ds.PhotometricInterpretation),
        modality=str(ds.get("Modality", "")),
        transfer_syntax=_syntax(ds),
    )


def decode(
    data: bytes,
    frame: int = 0,
    name: str = "the DICOM file",
    modality: bool = False,
    plugin: str | None = None,
) -> np.ndarray:
    """Pixel values of one frame from a file's bytes, as [rows, cols]: stored values, or with
    `modality` the modality LUT / rescale applied (pydicom's apply_modality_lut, float64).
    `plugin`: pydicom's decoding plugin for compressed data (default: codecs.json's)."""
    ds, frames = _dataset(io.BytesIO(data), name)
    pixels = _pixels(ds, name, plugin)
    if not 0 <= frame < frames:
        raise DicomError(f"{name}: frame {frame} asked for, the file has {frames}")
    pixels = pixels[frame] if frames > 1 else pixels
    if not modality:
        return pixels
    from pydicom.pixels import apply_modality_lut

    try:
        return np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    except Exception as e:  # a malformed LUT or rescale value
        raise DicomError(f"{name}: the modality LUT / rescale cannot be applied: {e}") from e


def transfer_syntax(data: bytes) -> tuple[str, str]:
    """The file's transfer syntax UID and, for the report, "UID (name)"; what a reader assumes
    when the file has no meta header; or why it cannot be told (UID "")."""
    import pydicom
    from pydicom.uid import UID

    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    except Exception as e:  # any unreadable header: the decode stage says why
        return "", f"unreadable ({type(e).__name__})"
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid is None:
        return "", "none in the file (no file meta header)"
    return str(uid), f"{uid} ({UID(uid).name})"


def _dataset(source: Path | io.BytesIO, name: str) -> tuple[Any, int]:
    """The dataset, with its image elements checked, and its number of frames."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(source)
    except (InvalidDicomError, OSError, ValueError, EOFError) as e:
        raise DicomError(f"{name}: not a readable DICOM file ({e})") from e
    except Exception as e:  # hostile bytes reach pydicom's internals (zlib, struct, ...)
        raise DicomError(f"{name}: not a readable DICOM file ({type(e).__name__}: {e})") from e
    try:
        return ds, _check_image_elements(ds, name)
    except DicomError:
        raise
    except Exception as e:  # an element pydicom cannot convert (unknown VR, bad length, ...)
        raise DicomError(
            f"{name}: its image elements cannot be read ({type(e).__name__}: {e})"
        ) from e


def _check_image_elements(ds: Any, name: str) -> int:
    """The number of frames, once every element an image needs is there and readable."""
    missing = [k for k in ("BitsStored", "PhotometricInterpretation", "PixelData") if k not in ds]
    if missing:
        raise DicomError(f"{name}: has no {', '.join(missing)}")
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored"):
        _whole(ds, keyword, name)
    samples = _whole(ds, "SamplesPerPixel", name, default=1)
    if samples != 1:
        raise DicomError(
            f"{name}: {samples} samples per pixel; only greyscale images are supported"
        )
    return _frames(ds, name)


def _whole(ds: Any, keyword: str, name: str, default: int | None = None) -> int:
    """An element that must hold a whole number (a wrong VR or a text like "1A" is named)."""
    if keyword not in ds and default is not None:
        return default
    value = ds[keyword].value if keyword in ds else None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise DicomError(f"{name}: {keyword} {value!r} is not a whole number") from e


def _frames(ds: Any, name: str) -> int:
    """NumberOfFrames, checked against native pixel data: data holding a whole frame more than
    declared means the declared size is wrong (pydicom would quietly return the extra frames)."""
    declared = ds.get("NumberOfFrames")
    frames = 1 if declared in (None, "") else _whole(ds, "NumberOfFrames", name)
    if frames < 1:
        raise DicomError(f"{name}: NumberOfFrames is {frames}")
    bits = int(ds.BitsAllocated)
    if codecs.for_syntax(_syntax(ds)) or bits % 8:
        return frames  # compressed, or packed 1-bit pixels
    frame_bytes = int(ds.Rows) * int(ds.Columns) * bits // 8
    held = len(ds.PixelData)
    if frame_bytes and held >= (frames + 1) * frame_bytes:
        raise DicomError(
            f"{name}: the pixel data holds {held} bytes, {held // frame_bytes} frames of "
            f"{ds.Rows}x{ds.Columns} at {bits} bits, but NumberOfFrames says {frames}: the "
            "declared size does not match the data"
        )
    return frames


def _pixels(ds: Any, name: str, plugin: str | None = None) -> np.ndarray:
    """The pixel array, a compressed one decoded by `plugin` or the one codecs.json names
    (pydicom would otherwise try each installed plugin in turn, and the report could not say
    which one ran)."""
    codec = codecs.for_syntax(_syntax(ds))
    try:
        if codec is not None:
            ds.pixel_array_options(decoding_plugin=plugin or codec.python_plugin)
        return ds.pixel_array
    except Exception as e:  # pydicom raises many types for undecodable or truncated pixel data
        syntax = _syntax(ds) or "unknown transfer syntax"
        raise DicomError(f"{name}: pixel data cannot be decoded ({syntax}): {e}") from e


def _syntax(ds: Any) -> str:
    return str(ds.file_meta.get("TransferSyntaxUID", ""))


def stats_table(table: str) -> dict[tuple[int, str], tuple[float, float]]:
    """A statistics table: (BitsStored, PhotometricInterpretation) -> (mean, std). `table` is
    a bundled table's name (fixtures/stats/NAME.json, e.g. "seed", the motivating code's) or
    the path of a .json file of that form: {"entries": [{"bits_stored", "photometric",
    "mean", "std"}, ...]}. Raises DicomError naming the table and what is wrong."""
    given = table.lower().endswith(".json")
    path = Path(table) if given else BUNDLED_STATS / f"{table}.json"
    if given and not path.is_file():
        raise DicomError(f"statistics table {path}: no such file")
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BUNDLED_STATS.glob("*.json")))
        raise DicomError(
            f"unknown statistics table {table!r}; known: {known}, or the path of a .json table"
        )
    try:
        entries = json.loads(path.read_text())["entries"]
        return {
            (int(e["bits_stored"]), str(e["photometric"])): (float(e["mean"]), float(e["std"]))
            for e in entries
        }
    except (ValueError, KeyError, TypeError) as e:
        raise DicomError(
            f"statistics table {path}: not a list of entries with bits_stored, photometric, "
            f"mean and std ({type(e).__name__}: {e})"
        ) from None


def stats_for(image: DicomImage, table: str = "seed") -> tuple[float, float]:
    """mean/std for this image's (BitsStored, PhotometricInterpretation), from `table`
    (stats_table)."""
    values = stats_table(table)
    key = (image.bits_stored, image.photometric)
    if key not in values:
        known = "; ".join(f"({b}, {p})" for b, p in values) or "none: the table is empty"
        raise DicomError(
            f"{image.path.name}: no normalisation for BitsStored={image.bits_stored} with "
            f"PhotometricInterpretation={image.photometric} (supported: {known})"
        )
    return values[key]
