"""The wire format for tensors crossing between Python and the page: raw bytes + dtype + shape.

Both directions use it: inputs the page fetches, and stage outputs the page uploads. Raw bytes
(never JSON arrays) because JSON costs 20-300x the time (see field notes section 6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Wire dtypes the page understands. TF.js has no uint16/int16/float64: such inputs are
# converted losslessly (int32) or refused (float64 cannot reach TF.js without rounding).
WIRE_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "uint8": np.dtype("u1"),
    "bool": np.dtype("?"),
}


class WireFormatError(ValueError):
    """A payload whose dtype, shape and byte count do not agree."""


@dataclass(frozen=True)
class WireTensor:
    dtype: str
    shape: tuple[int, ...]
    data: bytes

    def to_numpy(self) -> np.ndarray:
        return decode(self.dtype, self.shape, self.data)


def parse_shape(text: str) -> tuple[int, ...]:
    """'224,224,3' -> (224, 224, 3); '' -> () for a scalar."""
    if text.strip() == "":
        return ()
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise WireFormatError(f"shape {text!r} is not a comma-separated list of integers") from None
    if any(d < 0 for d in dims):
        raise WireFormatError(f"shape {text!r} has a negative dimension")
    return dims


def expected_nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    if dtype not in WIRE_DTYPES:
        raise WireFormatError(f"dtype {dtype!r} is not one of {', '.join(WIRE_DTYPES)}")
    return math.prod(shape) * WIRE_DTYPES[dtype].itemsize


def decode(dtype: str, shape: tuple[int, ...], data: bytes) -> np.ndarray:
    need = expected_nbytes(dtype, shape)
    if len(data) != need:
        raise WireFormatError(
            f"{dtype} tensor of shape {list(shape)} needs {need} bytes, got {len(data)}"
        )
    return np.frombuffer(data, dtype=WIRE_DTYPES[dtype]).reshape(shape)


def encode(array: np.ndarray) -> WireTensor:
    """Convert an array to a dtype TF.js can hold, without changing any value."""
    a = np.asarray(array)
    if a.dtype.kind == "b":
        wire = "bool"
    elif a.dtype == np.uint8:
        wire = "uint8"
    elif a.dtype.kind in "iu":
        i32 = np.iinfo(np.int32)
        if a.size and (a.min() < i32.min or a.max() > i32.max):
            raise WireFormatError(f"{a.dtype} values do not fit TF.js int32")
        wire = "int32"
    elif a.dtype == np.float32:
        wire = "float32"
    elif a.dtype.kind == "f" and a.dtype.itemsize < 4:
        wire = "float32"  # float16 -> float32 is exact
    else:
        raise WireFormatError(
            f"{a.dtype} cannot be sent to TF.js without rounding; cast it in the pipeline first"
        )
    data = np.ascontiguousarray(a, dtype=WIRE_DTYPES[wire]).tobytes()
    return WireTensor(wire, tuple(a.shape), data)
