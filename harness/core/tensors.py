"""The wire format for tensors crossing between Python and the page: raw bytes + dtype + shape.

Both directions use it: inputs the page fetches, and stage outputs the page uploads. Raw bytes
(never JSON arrays): for a 40 MB Float32Array in Chromium, `page.evaluate` returning a JSON
array moves 0.6 MB/s and a typed array 5-7 MB/s, a fetch POST of a Blob to the loopback server
211 MB/s.
"""

from __future__ import annotations

import json
import math
import struct
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
    """One tensor on the wire: `data` is its bytes, or a view of an array's or a request body's
    memory (never copied on the way: a stage can be hundreds of megabytes)."""

    dtype: str
    shape: tuple[int, ...]
    data: bytes | memoryview

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
    data = np.ascontiguousarray(a, dtype=WIRE_DTYPES[wire]).reshape(-1)
    return WireTensor(wire, tuple(a.shape), memoryview(data).cast("B"))


# A bundle carries several tensors in one request: fewer requests is most of the speed for the
# sub-megabyte stage tensors of a pipeline (each request costs ~10 ms in Chromium here).
# Layout: uint32 little-endian header length H, H bytes of JSON header (padded with spaces to
# a multiple of 8), then the payload; header entries: name, dtype, shape, offset, nbytes.


def pack(items: dict[str, WireTensor]) -> bytes:
    return b"".join(pack_parts(items))


def pack_parts(items: dict[str, WireTensor]) -> list[bytes | memoryview]:
    """The bundle as the buffers to send one after the other: the header, then each tensor's
    own memory (no copy of it)."""
    entries: list[dict[str, object]] = []
    chunks: list[bytes | memoryview] = []
    offset = 0
    for name, t in items.items():
        pad = -offset % 8
        if pad:
            chunks.append(b"\0" * pad)
        chunks.append(t.data)
        offset += pad
        entries.append(
            {
                "name": name,
                "dtype": t.dtype,
                "shape": list(t.shape),
                "offset": offset,
                "nbytes": len(t.data),
            }
        )
        offset += len(t.data)
    header = json.dumps(entries).encode()
    header += b" " * (-(len(header) + 4) % 8)
    return [struct.pack("<I", len(header)) + header, *chunks]


def unpack(blob: bytes) -> dict[str, WireTensor]:
    """The tensors of a bundle, as views of `blob` (no copy); a malformed bundle raises
    WireFormatError saying how."""
    if len(blob) < 4:
        raise WireFormatError("bundle shorter than its header length")
    (size,) = struct.unpack_from("<I", blob)
    start = 4 + size
    if start > len(blob):
        raise WireFormatError(f"bundle header of {size} bytes does not fit in {len(blob)}")
    try:
        entries = json.loads(blob[4:start])
    except ValueError as e:
        raise WireFormatError(f"bundle header is not JSON ({e})") from None
    if not isinstance(entries, list):
        raise WireFormatError("bundle header must be a list of entries")
    out: dict[str, WireTensor] = {}
    for e in entries:
        try:
            name, dtype, offset, nbytes = e["name"], e["dtype"], e["offset"], e["nbytes"]
            shape = tuple(e["shape"]) if isinstance(e["shape"], list) else None
        except (KeyError, TypeError):
            raise WireFormatError(
                f"bundle entry {e!r} lacks name/dtype/shape/offset/nbytes"
            ) from None
        if not isinstance(name, str) or not isinstance(dtype, str):
            raise WireFormatError(f"bundle entry {e!r}: name and dtype must be strings")
        if name in out:
            raise WireFormatError(f"bundle entry {name!r} appears twice")
        if shape is None or not all(_whole(d) and d >= 0 for d in shape):
            raise WireFormatError(
                f"bundle entry {name!r}: shape {e['shape']!r} is not a list of integers >= 0"
            )
        if not (_whole(offset) and _whole(nbytes)) or offset % 8:
            raise WireFormatError(
                f"bundle entry {name!r}: offset {offset!r} and nbytes {nbytes!r} must be "
                "integers, the offset a multiple of 8"
            )
        if nbytes != expected_nbytes(dtype, shape):
            raise WireFormatError(
                f"bundle entry {name!r}: a {dtype} tensor of shape {list(shape)} is "
                f"{expected_nbytes(dtype, shape)} bytes, not {nbytes}"
            )
        if offset < 0 or start + offset + nbytes > len(blob):
            raise WireFormatError(f"bundle entry {name!r} lies outside the bundle")
        view = memoryview(blob)[start + offset : start + offset + nbytes]
        out[name] = WireTensor(dtype, shape, view)
    return out


def _whole(value: object) -> bool:
    """An integer in JSON: not a bool, a float or a string of digits."""
    return isinstance(value, int) and not isinstance(value, bool)
