"""Array helpers the entries' evidence shares: float64 views, closeness, the images and TF
resizes a stage may be."""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from harness.diagnose.known.model import GRIDS, Seen
from harness.diagnose.setting_hints import python_call
from harness.ops import tf_resize


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).astype(np.float64)


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-5) -> bool:
    """Same shape and within rtol of the larger array's magnitude (float32 arithmetic)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    a64, b64 = _f64(a), _f64(b)
    scale = max(float(np.max(np.abs(a64), initial=0)), float(np.max(np.abs(b64), initial=0)), 1.0)
    return bool(np.allclose(a64, b64, rtol=0, atol=rtol * scale, equal_nan=True))


def _differ(seen: Seen) -> np.ndarray | None:
    """Where the two outputs differ (same shape), or None."""
    r, c = np.asarray(seen.reference), np.asarray(seen.candidate)
    if r.shape != c.shape:
        return None
    d = ~((_f64(r) == _f64(c)) | (np.isnan(_f64(r)) & np.isnan(_f64(c))))
    return d if d.any() else None


def _as_image(a: np.ndarray) -> np.ndarray | None:
    """[h, w, c] from [h, w, c] or [1, h, w, c]."""
    a = np.asarray(a)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    return a if a.ndim == 3 else None


def _spatial(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, tuple[int, int]] | None:
    """x as [n, h, w, c] and y's (h, w), when y is a resize of x (same batch and channels)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != y.ndim or x.ndim not in (3, 4) or x.shape[-1] != y.shape[-1]:
        return None
    if x.ndim == 4 and x.shape[0] != y.shape[0]:
        return None
    return (x if x.ndim == 4 else x[None]), (int(y.shape[-3]), int(y.shape[-2]))


def _resized(seen: Seen) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The stage's input as [n, h, w, c] and the output size, when both outputs are resizes
    of it (same batch and channels)."""
    if seen.x is None:
        return None
    shaped = _spatial(seen.x, seen.reference)
    if shaped is None or _spatial(seen.x, seen.candidate) is None:
        return None
    return shaped


SCALES = (1.0, 1 / 255, 255.0)  # a resize's output as it is, or scaled to or from [0, 1]


@dataclass(frozen=True)
class _Resize:
    """A TF resize of the stage's input: method, grid, and the factor its output was scaled by."""

    method: str
    align: bool
    half: bool
    scale: float

    @property
    def grid(self) -> str:
        return GRIDS[(self.align, self.half)]

    def python_call(self, size: tuple[int, int]) -> str:
        settings = {"size": list(size), "impl": "tf", "method": self.method,
                    "align_corners": self.align, "half_pixel_centers": self.half}  # fmt: skip
        return python_call("resize", settings) or ""

    def js_call(self, size: tuple[int, int]) -> str:
        name = "resizeBilinear" if self.method == "bilinear" else "resizeNearestNeighbor"
        return f"tf.image.{name}(x, {list(size)}, {str(self.align).lower()}, " \
            f"{str(self.half).lower()})"  # fmt: skip


def _tf_resizes(x: np.ndarray, size: tuple[int, int], out: np.ndarray) -> list[_Resize]:
    """The TF resizes of x (each method and grid, scaled by one of SCALES) that give `out`."""
    batched = np.asarray(out) if np.asarray(out).ndim == 4 else np.asarray(out)[None]
    found = []
    for method in ("bilinear", "nearest"):
        for ac, hp in GRIDS:
            y = _f64(tf_resize.resize(x, list(size), method, ac, hp))
            k = next((k for k in SCALES if _close(y * k, batched)), None)
            if k is not None:
                found.append(_Resize(method, ac, hp, k))
    return found


def _decoders(data: bytes, channels: int) -> dict[str, np.ndarray]:
    """The JPEG decoded by TF (default and INTEGER_ACCURATE IDCT, when TensorFlow is already
    loaded: importing it costs seconds) and by Pillow (libjpeg-turbo's accurate IDCT)."""
    from PIL import Image

    out: dict[str, np.ndarray] = {}
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        return out
    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im.convert(mode))
    out["Pillow"] = arr if arr.ndim == 3 else arr[..., None]
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "io"):
        for name, dct in (
            ("TF decode_jpeg (default, dct_method='')", ""),
            ("TF decode_jpeg(dct_method='INTEGER_ACCURATE')", "INTEGER_ACCURATE"),
        ):
            out[name] = tf.io.decode_jpeg(data, channels=channels, dct_method=dct).numpy()
    return out


def _which(decoded: Mapping[str, np.ndarray], a: np.ndarray) -> list[tuple[str, str]]:
    """The decoders whose pixels, mapped by one affine map (as they are, /255, /127.5 - 1,
    a mean and std...), give `a`: (decoder, the map in words)."""
    a = _as_image(a)
    if a is None:
        return []
    found = []
    y = _f64(a).ravel()
    for name, d in decoded.items():
        if d.shape != a.shape:
            continue
        x = _f64(d).ravel()
        if np.array_equal(x, y):
            found.append((name, "as decoded"))
            continue
        if np.ptp(x) == 0:
            continue
        slope, offset = np.polyfit(x, y, 1)
        if slope != 0 and _close(slope * x + offset, y, 1e-6):
            found.append((name, f"as decoded x {slope:.6g} {'+' if offset >= 0 else '-'} "
                                f"{abs(offset):.6g}"))  # fmt: skip
    return found


def _png_alpha(data: bytes) -> np.ndarray | None:
    if not data.startswith(b"\x89PNG") and data[8:12] != b"WEBP":
        return None
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        if "A" not in im.getbands() and "transparency" not in im.info:
            return None
        return np.asarray(im.convert("RGBA"))
