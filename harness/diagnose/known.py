"""Known divergences: mechanisms by which TF.js and Python compute different numbers for the
same step, each as data (what it matches, why, the fix on each side, its public source) with
the code that tests for it on the stage's arrays beside it.

An entry is told only when its evidence holds on the arrays themselves (the stage's Python
input, Python's output, the JS output, and where it needs them, the case's file or the Keras
layer's weights): matching an op name or a backend alone is never a finding. `explain` returns
the entries whose evidence holds; none holding is said by the caller, not guessed.

docs/known-divergences.md is generated from `CATALOGUE` (`python -m harness.diagnose.known`),
and a test keeps it so.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.diagnose.settings import python_call
from harness.ops import tf_resize

F16_MAX = 65504.0  # the largest finite float16
F16_TINY = 2.0**-14  # the smallest normal float16; below it float16 has 10 bits fewer or none
EXACT_F32 = 2**24  # integers above it are not all float32 values
# tensors smaller than this, whose inputs are still on the CPU, are computed by the CPU kernels
# (WEBGL_CPU_FORWARD / WEBGPU_CPU_FORWARD): CPU_HANDOFF_SIZE_THRESHOLD in tfjs-backend-webgl's
# flags, WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD in tfjs-backend-webgpu's (TF.js 4.22)
CPU_HANDOFF = {"webgl": 128, "webgpu": 1000}
GRIDS = {  # (align_corners, half_pixel_centers) -> its name in TF's and TF.js's terms
    (False, True): "half-pixel",
    (False, False): "legacy (TF1, TF.js's default)",
    (True, False): "align-corners",
}


@dataclass(frozen=True)
class LayerFacts:
    """A Keras layer as the Python side holds it: class name, `get_config()`, and weights by
    their short names (gamma, beta, moving_mean, moving_variance, kernel, bias)."""

    kind: str
    config: Mapping[str, Any]
    weights: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Seen:
    """What the harness knows of one divergent stage.

    `kind`: step (a catalogue op), custom (the user's op), tap (the user's code), layer (a Keras
    layer), node (a graph model's node). `op`: the catalogue op, the custom op's name, the layer
    class or the node's op. `backend`: the variant, e.g. "webgl:f16". `reference` and
    `candidate`: Python's and the JS output (the stage's own run where there is one). `inputs`:
    Python's values of the stage's inputs, when known (a tap's: the tap before it, which may be
    no input of it; evidence checks shapes and relations, so a wrong guess finds nothing).
    `file`: the case's bytes, for stages decoded from it. `layer`: the Keras layer, for layers.
    `differing`: settings the pipeline file gives the two sides differently, (python, js).
    `rerun`: Python's op of a step run again with some settings replaced.
    """

    stage: str
    kind: str
    op: str | None
    backend: str
    reference: np.ndarray
    candidate: np.ndarray
    inputs: tuple[np.ndarray, ...] = ()
    file: bytes | None = None
    layer: LayerFacts | None = None
    differing: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    # a step's Python op re-run on its input with some settings replaced (None: not a step)
    rerun: Callable[[Mapping[str, Any]], np.ndarray] | None = None

    @property
    def base(self) -> str:
        return self.backend.split(":")[0]

    @property
    def x(self) -> np.ndarray | None:
        return self.inputs[0] if self.inputs else None


@dataclass(frozen=True)
class Found:
    """What an entry's evidence saw, and the fixes for this very stage where they depend on
    it (the grid found, argMax or argMin, the backend); None: the entry's general fixes."""

    evidence: str
    fix_python: str | None = None
    fix_js: str | None = None


Evidence = Callable[[Seen], "str | Found | None"]


@dataclass(frozen=True)
class Known:
    """One mechanism. `ops`: op, layer or node names it concerns (empty: any; the evidence
    decides); `backends`: the backends where it happens (empty: any); `kinds`: stage kinds.
    `fix_python` / `fix_js`: what to write on each side, in the calls the user writes."""

    id: str
    title: str
    kinds: frozenset[str]
    ops: frozenset[str]
    backends: frozenset[str]
    dtypes: str  # numpy kinds of the JS output it concerns ("f", "iu", "b"; "" any)
    evidence: Evidence
    checks: str  # what the evidence tests, in words (for the docs)
    why: str
    fix_python: str
    fix_js: str
    source: str
    # False: the arrays alone cannot tell this mechanism from a user's own code doing the same
    # (a clip that returns its input): in a tap or custom op the hint is conditional on the op
    proven_by_arrays: bool = True
    condition: str = ""  # what the user's code must do for it to apply, when not proven
    said_as: str = "known divergence"  # the hint's `source`

    def matches(self, seen: Seen) -> bool:
        if self.kinds and seen.kind not in self.kinds:
            return False
        if self.backends and seen.base not in self.backends:
            return False
        if self.dtypes and np.asarray(seen.candidate).dtype.kind not in self.dtypes:
            return False
        if self.ops and seen.kind in ("step", "layer", "node"):
            return (seen.op or "").lower() in {o.lower() for o in self.ops}
        return True  # the user's own code: only the evidence can tell

    def hint(self, found: str | Found, kind: str = "step") -> dict[str, Any]:
        found = found if isinstance(found, Found) else Found(found)
        python = found.fix_python or self.fix_python
        js = found.fix_js or self.fix_js
        conditional = not self.proven_by_arrays and kind in ("tap", "custom")
        title = f"if {self.condition}: {self.title}" if conditional else self.title
        return {
            "text": (
                f"{title}: {found.evidence}. {self.why} Fix in Python: {python} "
                f"In TF.js: {js} (source: {self.source})"
            ),
            "conditional": conditional,
            "source": self.said_as,
            "id": self.id,
            "evidence": found.evidence,
            "fix": {"python": python, "js": js},
            "reference": self.source,
            "reproduces": None,
        }


def explain(seen: Seen) -> list[dict[str, Any]]:
    """Hints of every entry that matches `seen` and whose evidence holds; [] when none does.
    Never raises: an entry whose test cannot read these arrays finds nothing."""
    out = []
    for entry in CATALOGUE:
        if not entry.matches(seen):
            continue
        try:
            with np.errstate(all="ignore"):
                found = entry.evidence(seen)
        except Exception:  # diagnosis never breaks a run
            found = None
        if found:
            out.append(entry.hint(found, seen.kind))
    return out


# ---------------------------------------------------------------------------------- helpers


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


# ------------------------------------------------------------------------------ the entries


def _resize_grid(seen: Seen) -> Found | None:
    if seen.x is None:
        return None
    shaped = _spatial(seen.x, seen.reference)
    if shaped is None or _spatial(seen.x, seen.candidate) is None:
        return None
    x, size = shaped
    if size == x.shape[1:3] or _differ(seen) is None:
        return None
    ref, cand = _tf_resizes(x, size, seen.reference), _tf_resizes(x, size, seen.candidate)
    if not ref or not cand or set(ref) & set(cand):
        return None
    pairs = [(r, c) for r in ref for c in cand if r.scale == c.scale]
    if not pairs:
        return None  # scaled differently as well: more than a resize setting
    r, c = pairs[0]
    evidence = (
        f"python's values are a {r.method} resize on the {r.grid} grid "
        f"(align_corners={str(r.align).lower()}, half_pixel_centers={str(r.half).lower()}), "
        f"js's a {c.method} resize on the {c.grid} grid (alignCorners="
        f"{str(c.align).lower()}, halfPixelCenters={str(c.half).lower()}), from "
        f"{list(x.shape[1:3])} to {list(size)}"
    )
    js = f"{r.js_call(size)} computes what Python computes."
    python = f"{c.python_call(size)} computes what TF.js computes."
    if (seen.op or "") == "UpSampling2D":
        python = (
            "UpSampling2D(interpolation='nearest') agrees on both sides; to keep bilinear, "
            f"Python's {c.python_call(size)} is what TF.js's layer computes."
        )
        js = (
            "register a replacement layer before tf.loadLayersModel: a class extending "
            "tf.layers.Layer with static className 'UpSampling2D' (tf.serialization."
            f"registerClass) whose call() returns {r.js_call(size)}."
        )
    return Found(evidence, python, js)


def _batch_norm_training(seen: Seen) -> str | None:
    layer, x = seen.layer, seen.x
    if layer is None or x is None or layer.kind != "BatchNormalization":
        return None
    w, cfg = layer.weights, layer.config
    need = ("moving_mean", "moving_variance")
    if not all(k in w for k in need):
        return None
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, list | tuple) else axis
    x64 = _f64(x)
    axis = axis % x64.ndim
    shape = [1] * x64.ndim
    shape[axis] = x64.shape[axis]
    gamma = _f64(w.get("gamma", np.ones(shape[axis]))).reshape(shape)
    beta = _f64(w.get("beta", np.zeros(shape[axis]))).reshape(shape)
    eps = float(cfg.get("epsilon", 1e-3))
    reduce = tuple(i for i in range(x64.ndim) if i != axis)
    mean, var = x64.mean(axis=reduce, keepdims=True), x64.var(axis=reduce, keepdims=True)
    batch = (x64 - mean) / np.sqrt(var + eps) * gamma + beta
    mm, mv = _f64(w["moving_mean"]).reshape(shape), _f64(w["moving_variance"]).reshape(shape)
    moving = (x64 - mm) / np.sqrt(mv + eps) * gamma + beta
    if _close(batch, moving, 1e-4):
        return None  # the two statistics agree here: nothing to tell apart
    if _close(seen.reference, batch, 1e-4) and _close(seen.candidate, moving, 1e-4):
        return (
            "python's output is this batch normalised with its own mean and variance "
            "(training mode), js's is normalised with the layer's moving_mean and "
            "moving_variance (inference mode)"
        )
    return None


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


def _jpeg_idct(seen: Seen) -> str | None:
    if seen.file is None or not seen.file.startswith(b"\xff\xd8\xff"):
        return None
    ref, cand = _as_image(seen.reference), _as_image(seen.candidate)
    if ref is None or cand is None or ref.shape != cand.shape or _differ(seen) is None:
        return None
    decoded = _decoders(seen.file, ref.shape[-1])
    python, js = _which(decoded, ref), _which(decoded, cand)
    if not python or not js:
        return None  # each side must be some decoder's pixels: else another cause
    if {n for n, _ in python} & {n for n, _ in js}:
        return None
    (p_name, p_map), (j_name, j_map) = python[0], js[0]
    if p_map != j_map:
        return None  # mapped differently as well: more than the decoder
    levels = np.abs(_f64(decoded[p_name]) - _f64(decoded[j_name]))
    return (
        f"python's pixels are {p_name}'s ({p_map}), js's are {j_name}'s ({j_map}); the two "
        f"decoders differ at {int(np.sum(levels > 0))} of {levels.size} values, by at most "
        f"{levels.max():.0f} grey level(s)"
    )


def _png_alpha(data: bytes) -> np.ndarray | None:
    if not data.startswith(b"\x89PNG") and data[8:12] != b"WEBP":
        return None
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        if "A" not in im.getbands() and "transparency" not in im.info:
            return None
        return np.asarray(im.convert("RGBA"))


def _premultiplied(seen: Seen) -> Found | None:
    if seen.file is None:
        return None
    rgba = _png_alpha(seen.file)
    ref, cand = _as_image(seen.reference), _as_image(seen.candidate)
    if rgba is None or ref is None or cand is None or ref.shape != cand.shape:
        return None
    if ref.shape[:2] != rgba.shape[:2] or ref.shape[-1] not in (3, 4):
        return None
    k = 1 / 255 if _f64(ref).max() <= 1.0 and rgba[..., :3].max() > 1 else 1.0
    straight = _f64(rgba[..., : ref.shape[-1]])
    if not _close(ref, straight * k, 1e-6):
        return None
    alpha = _f64(rgba[..., 3:])
    js = _f64(cand) / k
    off = np.any(np.abs(js - straight) > 1e-3, axis=-1)
    if not off.any() or np.any(off & (alpha[..., 0] == 255)):
        return None  # opaque pixels differ too: not (only) alpha
    colour = slice(0, 3)
    premultiplied = np.round(straight[..., colour] * alpha / 255)
    clear = (alpha[..., 0] == 0) & np.any(straight[..., colour] > 0, axis=-1)
    if np.all(np.abs(js[..., colour] - premultiplied) <= 1):  # colours left premultiplied
        return Found(
            f"js's colours are the file's multiplied by alpha/255 (within one level) at "
            f"{int(off.sum())} pixel(s) with alpha < 255; opaque pixels agree",
            fix_python="to compute what this page computes, np.round(rgb * a / 255) "
            "(premultiplied colour, as WebGL hands back an image bitmap that was "
            "premultiplied).",
        )
    zeroed = clear & np.all(js[..., colour] == 0, axis=-1)
    if not zeroed.any() or np.any(clear & ~zeroed & off):
        return None
    partial = off & (alpha[..., 0] > 0)
    back = np.where(alpha > 0, np.round(premultiplied * 255 / np.maximum(alpha, 1)), 0)
    if np.any(np.abs(js[..., colour] - back)[partial] > 1):
        return None  # not the rounding of a premultiply-then-unpremultiply round trip
    worst = float(np.max(np.abs(js - straight)[partial], initial=0))
    return Found(
        f"{int(zeroed.sum())} fully transparent pixel(s) with a colour in the file have "
        f"colour 0 on js and their colour on python; {int(partial.sum())} semi-transparent "
        f"pixel(s) differ by up to {worst:.0f} level(s), as a premultiply-and-back in 8 bits "
        "rounds them; opaque pixels agree",
        fix_python="to compute what this page computes, p = np.round(rgb * a / 255); "
        "rgb = np.where(a > 0, np.round(p * 255 / np.maximum(a, 1)), 0).",
    )


def _antialiased(x: np.ndarray, size: tuple[int, int], ref: np.ndarray) -> str | None:
    """Which anti-aliasing resize of x (output scaled by one of SCALES) gives ref: TF's
    (antialias=True, when TensorFlow is already loaded), scikit-image's, or Pillow's.

    scikit-image's is tried on the first channel first, order 1 with each border mode on the
    interior (the mode changes only the border), so a 1024x1024x3 image costs a few
    resizes, not every combination at full size."""
    from skimage.transform import resize

    batched = np.asarray(ref) if np.asarray(ref).ndim == 4 else np.asarray(ref)[None]
    if x.shape[0] != 1:
        return None
    img, want = _f64(x[0]), _f64(batched[0])
    k = _scale_of(img, want)
    if k is None:
        return None
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "image"):
        for method in ("bilinear", "bicubic", "lanczos3", "area"):
            aa = method != "area"
            y = tf.image.resize(img.astype(np.float32), size, method=method, antialias=aa)
            if _close(_f64(y.numpy()) * k, want, 1e-5):
                return f"tf.image.resize(x, {list(size)}, method='{method}', antialias={aa})"
    first = img[..., :1]
    for order in (1, 0, 3):
        for mode in ("reflect", "edge", "constant", "symmetric"):
            y = resize(first, size, order=order, anti_aliasing=True, mode=mode,
                       preserve_range=True)  # fmt: skip
            if not _close(y * k, want[..., :1], 1e-5):
                continue
            full = resize(img, size, order=order, anti_aliasing=True, mode=mode,
                          preserve_range=True)  # fmt: skip
            if _close(full * k, want, 1e-5):
                return (
                    f"skimage.transform.resize(x, {list(size)}, order={order}, "
                    f"mode='{mode}', anti_aliasing=True)"
                )
    from PIL import Image

    filters = {"BILINEAR": Image.BILINEAR, "BICUBIC": Image.BICUBIC, "LANCZOS": Image.LANCZOS,
               "BOX": Image.BOX}  # fmt: skip
    whole = np.all(img == np.round(img)) and img.min() >= 0 and img.max() <= 255
    if img.shape[-1] in (1, 3) and whole:
        im = Image.fromarray(img.astype(np.uint8)[..., 0] if img.shape[-1] == 1
                             else img.astype(np.uint8))  # fmt: skip
        for name, f in filters.items():
            y = _f64(np.asarray(im.resize(size[::-1], f))).reshape(want.shape)
            if _close(y * k, want, 1e-6):
                return f"Pillow Image.resize(({size[1]}, {size[0]}), Image.{name})"
    return None


def _scale_of(x: np.ndarray, y: np.ndarray) -> float | None:
    """Which of SCALES maps x's range onto y's (a resize keeps the range, nearly)."""
    hi_x, hi_y = float(np.max(np.abs(x), initial=0)), float(np.max(np.abs(y), initial=0))
    if hi_x == 0 or hi_y == 0:
        return None
    return next((k for k in SCALES if 0.5 <= hi_y / (hi_x * k) <= 2.0), None)


def _antialias_shrink(seen: Seen) -> Found | None:
    if seen.x is None:
        return None
    shaped = _spatial(seen.x, seen.reference)
    if shaped is None or _spatial(seen.x, seen.candidate) is None:
        return None
    x, size = shaped
    if not (size[0] < x.shape[1] or size[1] < x.shape[2]) or _differ(seen) is None:
        return None
    js = _tf_resizes(x, size, seen.candidate)
    if not js or _tf_resizes(x, size, seen.reference):
        return None
    python = _antialiased(x, size, seen.reference)
    if python is None:
        return None
    c = js[0]
    return Found(
        f"python's values are {python}, which smooths before shrinking "
        f"{list(x.shape[1:3])} to {list(size)}; js's are TF.js's {c.js_call(size)}, "
        "which does not",
        fix_python=(
            f"without anti-aliasing, {c.python_call(size)} computes what TF.js computes "
            "(scikit-image: resize(x, size, order=1, anti_aliasing=False, mode='edge', "
            "preserve_range=True) is the half-pixel bilinear one)."
        ),
    )


def _int_beyond_f32(seen: Seen) -> str | None:
    r, c = np.asarray(seen.reference), np.asarray(seen.candidate)
    if r.dtype.kind not in "iu" or c.dtype.kind not in "iu":
        return None
    diff = _differ(seen)
    if diff is None:
        return None
    if r.size < CPU_HANDOFF.get(seen.base, 0):
        return None  # small enough to have run on the CPU kernels, exactly: cannot tell
    rv, cv = r[diff].astype(np.int64), c[diff].astype(np.int64)
    if np.any(np.abs(rv) <= EXACT_F32):
        return None  # an integer below 2^24 is exact in float32: another cause
    if np.any(cv.astype(np.float32).astype(np.int64) != cv):
        return None  # a value float32 cannot hold did not come through float32
    step = np.spacing(np.abs(rv).astype(np.float32)).astype(np.int64)
    if np.any(np.abs(cv - rv) > step):
        return None
    rounded = rv.astype(np.float32).astype(np.int64)
    if len(np.unique(cv - rv)) == 1 and not np.array_equal(cv, rounded):
        return None  # one constant offset, not float32's rounding: another cause
    return (
        f"{int(diff.sum())} of {r.size} int32 values differ, every one above 2^24 "
        f"(up to {int(np.abs(rv).max())}), each js value a float32 value within one float32 "
        f"step of python's (up to {int(step.max())})"
    )


def _float16_range(seen: Seen) -> str | None:
    if "f16" not in seen.backend:
        return None
    diff = _differ(seen)
    if diff is None:
        return None
    r, c = _f64(seen.reference), _f64(seen.candidate)
    peak = max([float(np.max(np.abs(a[np.isfinite(a)]), initial=0))
                for a in (r, *map(_f64, seen.inputs))])  # fmt: skip
    over = diff & ~np.isfinite(c) & np.isfinite(r)
    under = diff & (c == 0) & (r != 0) & (np.abs(r) < F16_TINY)
    rest = diff & ~over & ~under
    if np.any(np.abs(c[rest] - r[rest]) > 2.0**-8 * max(peak, F16_TINY)):
        return None  # other elements differ by more than float16 rounding: another cause
    said = []
    if over.any():
        if peak <= F16_MAX:
            return None  # nothing here is past float16's range: not an overflow
        said.append(
            f"{int(over.sum())} value(s) are Inf or NaN on js and finite on python, where "
            f"values reach {peak:.6g} (float16's largest is 65504)"
        )
    if under.sum() >= 1:
        said.append(
            f"{int(under.sum())} value(s) below float16's smallest normal (6.1e-05) are 0 on js"
        )
    return "; ".join(said) or None


def _nearest_f64(seen: Seen) -> str | None:
    if seen.x is None:
        return None
    shaped = _spatial(seen.x, seen.reference)
    if shaped is None or _differ(seen) is None:
        return None
    x, size = shaped
    cand = np.asarray(seen.candidate)
    cand = cand if cand.ndim == 4 else cand[None]
    ref = np.asarray(seen.reference)
    ref = ref if ref.ndim == 4 else ref[None]
    for (ac, hp), name in GRIDS.items():
        rows32 = tf_resize.nearest_index(x.shape[1], size[0], ac, hp)
        cols32 = tf_resize.nearest_index(x.shape[2], size[1], ac, hp)
        rows64 = tf_resize.nearest_index(x.shape[1], size[0], ac, hp, np.float64)
        cols64 = tf_resize.nearest_index(x.shape[2], size[1], ac, hp, np.float64)
        if np.array_equal(rows32, rows64) and np.array_equal(cols32, cols64):
            continue
        if not np.array_equal(x[:, rows32][:, :, cols32], ref):
            continue
        if np.array_equal(x[:, rows64][:, :, cols64], cand):
            rows = np.flatnonzero(rows32 != rows64).tolist()
            cols = np.flatnonzero(cols32 != cols64).tolist()
            where = ", ".join(
                f"{axis} {at[:5]}" for axis, at in (("rows", rows), ("columns", cols)) if at
            )
            return (
                f"nearest-neighbour resize on the {name} grid: at output {where} js picks "
                "the source index float64 arithmetic gives, python the one float32 gives; "
                "every other value agrees"
            )
    return None


def _argmax_ties(seen: Seen) -> Found | None:
    x, r, c = seen.x, np.asarray(seen.reference), np.asarray(seen.candidate)
    if x is None or r.dtype.kind not in "iu" or c.dtype.kind not in "iu":
        return None
    diff = _differ(seen)
    if diff is None:
        return None
    x = np.asarray(x)
    for axis in range(x.ndim):
        if np.delete(np.array(x.shape), axis).tolist() != list(r.shape):
            continue
        n = x.shape[axis]
        if r.min() < 0 or c.min() < 0 or r.max() >= n or c.max() >= n:
            continue
        moved = np.moveaxis(x, axis, -1)
        at_c = np.take_along_axis(moved, c[..., None].astype(np.int64), -1)[..., 0]
        for first, pick, word, op in ((np.argmax, np.max, "maxima", "Max"),
                                      (np.argmin, np.min, "minima", "Min")):  # fmt: skip
            if not np.array_equal(first(moved, axis=-1), r):
                continue  # python's is not the first of this axis's extremes
            best = pick(moved, axis=-1)
            if np.all(at_c == best):
                reduce = "max" if op == "Max" else "min"
                return Found(
                    f"{int(diff.sum())} of {r.size} indices differ; at each the input holds "
                    f"tied {word} along axis {axis}: python's index is the first of them, "
                    "js's another",
                    fix_js=(
                        f"make the first {word[:-1]}um win: tf.arg{op}(tf.equal(x, "
                        f"x.{reduce}({axis}, true)).cast('int32').mul(tf.range({n}, 0, -1, "
                        f"'int32').reshape({_axis_shape(x.ndim, axis, n)})), {axis}) (the "
                        "first tied element gets the largest weight)."
                    ),
                )
    return None


def _axis_shape(ndim: int, axis: int, n: int) -> list[int]:
    shape = [1] * ndim
    shape[axis] = n
    return shape


def _wasm_clip_int(seen: Seen) -> str | None:
    x = seen.x
    diff = _differ(seen)
    if x is None or diff is None or np.asarray(x).shape != np.asarray(seen.reference).shape:
        return None
    x, r, c = _f64(x), _f64(seen.reference), _f64(seen.candidate)
    lo, hi = r.min(), r.max()
    if not np.all(c[diff] == x[diff]) or not np.all((r[diff] == lo) | (r[diff] == hi)):
        return None
    if not np.all((x[diff] < lo) | (x[diff] > hi)):
        return None
    return (
        f"{int(diff.sum())} value(s) outside [{lo:g}, {hi:g}] come out of js as they went in "
        f"(up to {float(np.max(np.abs(x[diff]))):g}); python clipped them"
    )


def _wasm_cast_bool(seen: Seen) -> str | None:
    r, c = np.asarray(seen.reference), np.asarray(seen.candidate)
    diff = _differ(seen)
    if diff is None or c.dtype.kind != "b":
        return None
    if not (np.all(r[diff].astype(bool)) and not np.any(c[diff])):
        return None
    x = seen.x
    if x is None or np.asarray(x).shape != r.shape:
        return None
    # a typed-array set into a Uint8Array: ToUint8, the integer part modulo 256 (NaN, Inf: 0)
    xv = _f64(x)
    whole = np.trunc(np.where(np.isfinite(xv), xv, 0))
    low_byte = np.mod(whole, 256) != 0
    if not np.array_equal(c.astype(bool), low_byte):
        return None
    example = float(xv[diff].ravel()[0])
    return (
        f"{int(diff.sum())} nonzero input value(s) whose integer part is a multiple of 256 "
        f"(e.g. {example:g}) are false on js and true on python; every js value is "
        "(integer part mod 256) != 0: the cast kept only the low byte"
    )


def _log_zero(seen: Seen) -> str | None:
    diff = _differ(seen)
    if diff is None:
        return None
    r, c = _f64(seen.reference), _f64(seen.candidate)
    if not (np.all(np.isneginf(r[diff])) and np.all(np.isfinite(c[diff]))):
        return None
    # a float32 log of 0 made finite lands at log of the smallest float32s: -87.3 (normal)
    # down to -103.3 (subnormal); a user's epsilon (log(x + 1e-30) = -69.1) lands elsewhere
    if np.any(c[diff] > -80) or np.any(c[diff] < -104):
        return None
    if r.size < CPU_HANDOFF["webgl"]:
        return None  # small enough to have run on the CPU kernel, which gives -Infinity
    x = seen.x
    if x is not None and np.asarray(x).shape == r.shape and not np.all(_f64(x)[diff] == 0):
        return None
    return (
        f"{int(diff.sum())} value(s) are -Infinity on python (log of 0) and finite on js "
        f"(e.g. {c[diff].ravel()[0]:g})"
    )


def _pipeline_settings(seen: Seen) -> str | None:
    if not seen.differing or seen.rerun is None:
        return None
    js_values = {k: j for k, (_, j) in seen.differing.items()}
    y = np.asarray(seen.rerun(js_values))
    if not _close(y, seen.candidate, 1e-5):
        return None  # Python with JS's values does not give JS's output: not (only) this
    said = "; ".join(f"python {k}={p!r}, js {k}={j!r}" for k, (p, j) in seen.differing.items())
    return f"{said}; Python's op with js's value(s) gives the JS output"


STEPS = frozenset({"step", "custom", "tap", "layer", "node"})
ANY: frozenset[str] = frozenset()

CATALOGUE: tuple[Known, ...] = (
    Known(
        id="pipeline-settings",
        title="The pipeline file sets the two sides differently",
        kinds=frozenset({"step", "custom"}),
        ops=ANY,
        backends=ANY,
        dtypes="",
        evidence=_pipeline_settings,
        checks="the step's python and js settings differ in the pipeline file, and Python's op "
        "with the JS values gives the JS output.",
        why="A step's params are overridden in its python or js section with another value, "
        "so the two sides compute different things on purpose.",
        fix_python="give the value once, in the step's params (or the same in both sections).",
        fix_js="the same: one value in the step's params.",
        source="the pipeline file",
        said_as="pipeline file",
    ),
    Known(
        id="resize-grid",
        title="Resize with another sampling grid or method (UpSampling2D bilinear, TF.js's "
        "resize defaults)",
        kinds=STEPS,
        ops=frozenset({"UpSampling2D", "ResizeBilinear", "ResizeNearestNeighbor", "resize"}),
        backends=ANY,
        dtypes="",
        evidence=_resize_grid,
        checks="Python's output is TF's resize of the stage's input with one method and grid, "
        "the JS output with another (bilinear or nearest; half-pixel, legacy or "
        "align-corners), both scaled alike (as they are, /255 or x255).",
        why="TF2's tf.image.resize and Keras's UpSampling2D(interpolation='bilinear') sample "
        "on the half-pixel grid; TF.js's tf.image.resizeBilinear defaults to the legacy TF1 "
        "grid (alignCorners=false, halfPixelCenters=false), and TF.js's UpSampling2D layer "
        "calls it so.",
        fix_python="to compute what TF.js's defaults compute, "
        "tf.compat.v1.image.resize_bilinear(x, size, align_corners=False, "
        "half_pixel_centers=False); for UpSampling2D, interpolation='nearest' agrees on both "
        "sides.",
        fix_js="tf.image.resizeBilinear(x, [h, w], false, true) is TF2's tf.image.resize(x, "
        "[h, w], 'bilinear'); for a converted UpSampling2D, register a replacement layer "
        "(tf.serialization.registerClass of a class whose static className is 'UpSampling2D' "
        "and whose call does that resize) before tf.loadLayersModel.",
        source="tfjs-layers src/layers/convolutional.ts (UpSampling2D.call); "
        "https://github.com/tensorflow/tfjs/issues/4364",
    ),
    Known(
        id="batchnorm-training",
        title="BatchNormalization run in training mode on the Python side",
        kinds=frozenset({"layer"}),
        ops=frozenset({"BatchNormalization"}),
        backends=ANY,
        dtypes="f",
        evidence=_batch_norm_training,
        checks="the layer's input normalised with its own batch statistics gives Python's output, "
        "with the layer's moving statistics the JS output.",
        why="A Keras call with training=True (fixed in the model, or model(x, training=True)) "
        "normalises with the batch's statistics, and each such call also moves the layer's "
        "moving statistics; TF.js's predict() runs in inference mode and uses the moving "
        "statistics saved in the file.",
        fix_python="call the model in inference mode: model(x, training=False) or "
        "model.predict(x); remove training=True from the layer's call in the model code.",
        fix_js="model.predict(x) is right for a trained model; model.apply(x, {training: true}) "
        "would reproduce batch statistics, which an exported model should not use.",
        source="keras BatchNormalization (training argument); tfjs-layers "
        "src/layers/normalization.ts",
    ),
    Known(
        id="jpeg-idct",
        title="JPEG decoders round the inverse DCT differently",
        kinds=frozenset({"tap", "custom", "step"}),
        ops=frozenset({"decode"}),
        backends=ANY,
        dtypes="",
        evidence=_jpeg_idct,
        checks="the case is a JPEG; Python's pixels are one decoder's (TF's default or "
        "INTEGER_ACCURATE IDCT, when TensorFlow is loaded, or Pillow's) and the JS pixels "
        "another's, both mapped alike (as decoded, /255, /127.5 - 1...).",
        why="JPEG's standard lets conforming decoders differ by a grey level per sample (ISO "
        "10918-2); TF's decode_jpeg defaults to libjpeg's fast integer IDCT, the browser "
        "decodes with libjpeg-turbo's accurate IDCT (Chromium), as Pillow does.",
        fix_python="tf.io.decode_jpeg(data, dct_method='INTEGER_ACCURATE'), or Pillow's "
        "np.asarray(Image.open(path).convert('RGB')), decodes as the browser does.",
        fix_js="the browser's decoder cannot be set; to decode as TF's default, decode in JS "
        "with a libjpeg build using the fast IDCT, or ship decoded pixels (PNG).",
        source="tensorflow/core/lib/jpeg/jpeg_mem.cc (dct_method); ISO/IEC 10918-2",
    ),
    Known(
        id="premultiplied-alpha",
        title="The browser premultiplies alpha when an image goes through a canvas",
        kinds=frozenset({"tap", "custom", "step"}),
        ops=frozenset({"decode"}),
        backends=ANY,
        dtypes="",
        evidence=_premultiplied,
        checks="the case is a PNG/WebP with alpha; Python's pixels are the file's; the JS "
        "pixels differ only where alpha < 255, and are either premultiplied (colour x "
        "alpha/255, within a level) or premultiplied and back (transparent ones 0).",
        why="A 2D canvas, and tf.browser.fromPixels of an image element or canvas, store "
        "colour premultiplied by alpha in 8 bits: a fully transparent pixel loses its colour "
        "and a low-alpha one is rounded, while Pillow and tf.io.decode_png keep the file's "
        "values.",
        fix_python="compute what the page computes (the hint gives the formula for the route "
        "seen), or keep the file's straight colours on both sides (the TF.js fix).",
        fix_js="decode without premultiplying: createImageBitmap(blob, {premultiplyAlpha: "
        "'none', colorSpaceConversion: 'none'}) and read it through WebGL "
        "(tf.browser.fromPixels on the webgl backend), or decode the PNG in JS (e.g. the "
        "fast-png package) and build the tensor from its bytes.",
        source="https://github.com/tensorflow/tfjs/issues/1719; HTML canvas spec "
        "(premultiplied alpha)",
    ),
    Known(
        id="antialias-shrink",
        title="Python anti-aliases when shrinking; TF.js's resize does not",
        kinds=STEPS,
        ops=frozenset({"resize", "ResizeBilinear", "ResizeNearestNeighbor"}),
        backends=ANY,
        dtypes="",
        evidence=_antialias_shrink,
        checks="the stage shrinks its input; the JS output is a TF resize of it, Python's an "
        "anti-aliased one (TF's antialias=True when TensorFlow is loaded, scikit-image or "
        "Pillow), both scaled alike.",
        why="scikit-image's resize (anti_aliasing defaults to True when shrinking) and "
        "Pillow's BILINEAR/BICUBIC resize widen the filter to the shrink factor; TF.js's "
        "resizeBilinear and resizeNearestNeighbor sample only the nearest source pixels and "
        "have no anti-aliasing option.",
        fix_python="skimage.transform.resize(x, (h, w), order=1, anti_aliasing=False, "
        "mode='edge', preserve_range=True) or tf.image.resize(x, (h, w), 'bilinear') "
        "computes what tf.image.resizeBilinear(x, [h, w], false, true) computes.",
        fix_js="TF.js has no anti-aliased resize. For an integer factor k, tf.avgPool(x, k, k, "
        "'valid') is an area (box) shrink; otherwise blur first (tf.depthwiseConv2d with a "
        "Gaussian of sigma (k - 1) / 2, scikit-image's choice) and then resizeBilinear(x, "
        "[h, w], false, true): close, not equal (borders are handled differently).",
        source="skimage.transform.resize docs (anti_aliasing); tfjs-core "
        "src/ops/image/resize_bilinear.ts",
    ),
    Known(
        id="int32-float32-storage",
        title="int32 values above 2^24 rounded on webgl/webgpu",
        kinds=STEPS,
        ops=ANY,
        backends=frozenset({"webgl", "webgpu"}),
        dtypes="iu",
        evidence=_int_beyond_f32,
        checks="the tensor is too large to be CPU-forwarded (128 elements on webgl, 1000 on "
        "webgpu); every differing int32 value is above 2^24, the JS one a float32 value within "
        "one float32 step of Python's, and not all off by one constant (unless each is "
        "Python's rounded to float32).",
        why="TF.js's GPU backends keep and compute int32 tensors as float32, which holds every "
        "integer only up to 2^24 = 16777216; tensors under 128 elements (webgl) or 1000 "
        "(webgpu) whose inputs are still on the CPU are computed on the CPU kernels "
        "(WEBGL_CPU_FORWARD / WEBGPU_CPU_FORWARD), so the same op can be exact on a small "
        "tensor and rounded on a larger one.",
        fix_python="nothing is wrong on the Python side (int32 is exact there).",
        fix_js="keep int32 values below 2^24 on webgl/webgpu (e.g. split an id into high and "
        "low parts of 12 bits), or run those ops on the cpu or wasm backend.",
        source="tfjs-backend-webgl (int32 textures stored as float32); "
        "https://github.com/tensorflow/tfjs/issues/5641",
        proven_by_arrays=False,
        condition="this code computes these int32 values on the GPU backend (not from float32 "
        "values of its own)",
    ),
    Known(
        id="float16-range",
        title="float16 overflow or underflow on a float16 page",
        kinds=STEPS,
        ops=ANY,
        backends=ANY,
        dtypes="f",
        evidence=_float16_range,
        checks="on a float16 page, values are Inf/NaN where Python's are finite and values pass "
        "65504, or 0 where Python's are below 6.1e-05; every other difference within float16 "
        "rounding.",
        why="With WEBGL_FORCE_F16_TEXTURES (as on many phones) values are stored in float16: "
        "beyond 65504 they become Infinity (and Inf - Inf, e.g. in a softmax with a -1e9 mask, "
        "NaN); below 6.1e-05 they lose precision or become 0.",
        fix_python="nothing is wrong on the Python side; to see the page's numbers, "
        "x.astype(np.float16) where the page stores a tensor.",
        fix_js="keep values inside float16's range (a mask of -1e4 instead of -1e9; scale "
        "large inputs down), or require float32 textures: tf.env().set("
        "'WEBGL_FORCE_F16_TEXTURES', false) where the device supports them.",
        source="tfjs-backend-webgl flags (WEBGL_FORCE_F16_TEXTURES); "
        "https://github.com/tensorflow/tfjs/issues/1586",
    ),
    Known(
        id="nearest-float64-index",
        title="tfjs cpu's nearest-neighbour resize picks other source rows on rare rows",
        kinds=STEPS,
        ops=frozenset({"resize", "ResizeNearestNeighbor", "UpSampling2D"}),
        backends=frozenset({"cpu"}),
        dtypes="",
        evidence=_nearest_f64,
        checks="Python's output is TF's nearest resize of the input; the JS output is the "
        "same with source indices computed in float64.",
        why="The cpu backend computes source indices in JavaScript numbers (float64); TF, and "
        "TF.js's wasm, webgl and webgpu backends, in float32, so where (y + 0.5) * scale "
        "rounds across an integer the two pick neighbouring rows.",
        fix_python="nothing is wrong on the Python side (it is TF's kernel).",
        fix_js="run the resize on wasm or webgl, or compute the float32 indices yourself "
        "(Math.fround) and tf.gather rows and columns.",
        source="tfjs-backend-cpu src/kernels/ResizeNearestNeighbor.ts; "
        "tensorflow/core/kernels/image/resize_nearest_neighbor_op.cc",
    ),
    Known(
        id="argmax-ties",
        title="argMax/argMin break ties differently",
        kinds=STEPS,
        ops=frozenset({"ArgMax", "ArgMin", "argmax", "argmin"}),
        backends=frozenset({"webgpu"}),
        dtypes="iu",
        evidence=_argmax_ties,
        checks="along the axis Python reduced, Python's index is the first of the input's "
        "extremes and, at every differing index, the JS one points at a tied extreme too.",
        why="Where several elements share the maximum, numpy and TF return the first; "
        "TF.js's webgpu backend reduces in parallel and may return another of them (cpu, wasm "
        "and webgl return the first).",
        fix_python="nothing is wrong on the Python side (first of the tied maxima).",
        fix_js="make the first maximum win: tf.argMax(tf.equal(x, x.max(-1, true))"
        ".cast('int32').mul(tf.range(n, 0, -1, 'int32')), -1); or break ties before "
        "argMax (they come from quantised or saturated values).",
        source="tfjs-backend-webgpu src/argminmax_webgpu.ts",
    ),
    Known(
        id="wasm-clip-int32",
        title="wasm clipByValue leaves int32 values unclipped",
        kinds=STEPS,
        ops=frozenset({"ClipByValue", "tf.clipByValue"}),
        backends=frozenset({"wasm"}),
        dtypes="iu",
        evidence=_wasm_clip_int,
        checks="every differing value is the input's own, outside the range Python clipped to.",
        why="TF.js 4.22's wasm ClipByValue kernel handles float32 only: on an int32 tensor the "
        "values come back as they went in.",
        fix_python="nothing is wrong on the Python side.",
        fix_js="clip in float32 and cast back: tf.clipByValue(x.toFloat(), lo, hi)"
        ".cast('int32'), or tf.minimum(tf.maximum(x, lo), hi).",
        source="tfjs-backend-wasm src/kernels/ClipByValue.ts",
        proven_by_arrays=False,
        condition="this code calls tf.clipByValue on an int32 tensor here",
    ),
    Known(
        id="wasm-cast-bool",
        title="wasm cast to bool keeps the low byte",
        kinds=STEPS,
        ops=frozenset({"Cast", "cast"}),
        backends=frozenset({"wasm"}),
        dtypes="b",
        evidence=_wasm_cast_bool,
        checks="every JS value is (the input's integer part mod 256) != 0, and every differing "
        "one false on JS and true on Python.",
        why="TF.js 4.22's wasm Cast copies into a bool (Uint8Array) buffer with a typed-array "
        "set, which keeps the low byte of each value's integer part: multiples of 256, and "
        "floats between -1 and 1 such as 0.5, become false.",
        fix_python="nothing is wrong on the Python side.",
        fix_js="compare instead of casting: tf.notEqual(x, 0).",
        source="tfjs-backend-wasm src/kernels/Cast.ts",
        proven_by_arrays=False,
        condition="this code casts to bool here (x.cast('bool') on the wasm backend)",
    ),
    Known(
        id="webgl-log-zero",
        title="log(0) is finite on webgl",
        kinds=STEPS,
        ops=frozenset({"Log", "log"}),
        backends=frozenset({"webgl"}),
        dtypes="f",
        evidence=_log_zero,
        checks="the tensor is too large to be CPU-forwarded (128 elements); every differing value "
        "is -Infinity on Python (the input is 0 there) and on JS between -104 and -80 (the log "
        "of float32's smallest values, where a finite log(0) lands).",
        why="The webgl backend's log shader gives a large finite negative number for 0 on "
        "some GPUs and drivers (SwiftShader here) where IEEE gives -Infinity.",
        fix_python="nothing is wrong on the Python side.",
        fix_js="keep log's argument positive: tf.log(tf.maximum(x, 1e-30)) (and the same on "
        "the Python side, so both agree), or mask zeros explicitly.",
        source="tfjs-backend-webgl src/kernels/Log.ts",
        proven_by_arrays=False,
        condition="this code calls tf.log on zeros here (not on a floor of its own)",
    ),
)


def catalogue_markdown() -> str:
    """docs/known-divergences.md: the catalogue, one section per entry, from `CATALOGUE`."""
    lines = [
        "# Known divergences",
        "",
        "Generated from `harness/diagnose/known.py` by `python -m harness.diagnose.known`; do "
        'not edit by hand. An entry is reported (`hints[]` with `source: "known '
        "divergence\"`) only when its evidence holds on the stage's own arrays; when none "
        'does, the harness reads the two arrays for a simple relation (`source: "symptom"`), '
        'and when nothing holds it says so (`source: "none"`).',
        "",
    ]
    for e in CATALOGUE:
        ops = ", ".join(sorted(e.ops)) or "any (the evidence decides)"
        backends = ", ".join(sorted(e.backends)) or "any"
        lines += [
            f"## {e.title}",
            "",
            f"- id: `{e.id}`",
            f"- stages: {', '.join(sorted(e.kinds))}; ops: {ops}; backends: {backends}",
            f"- evidence: {e.checks}",
            *(
                []
                if e.proven_by_arrays
                else [
                    "- in your own code (taps, custom ops), where the arrays cannot show which "
                    f'call made them: told as "if this code calls {" or ".join(sorted(e.ops))} '
                    'here" (`conditional: true`)'
                ]
            ),
            f"- why: {e.why}",
            f"- fix in Python: {e.fix_python}",
            f"- fix in TF.js: {e.fix_js}",
            f"- source: {e.source}",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(catalogue_markdown(), end="")
