"""Evidence of the entries about images: resize grids and methods, BatchNormalization in
training mode, JPEG decoders, premultiplied alpha, anti-aliased shrinks."""

from __future__ import annotations

import sys

import numpy as np

from harness.diagnose.known.helpers import (
    SCALES,
    _as_image,
    _close,
    _decoders,
    _differ,
    _f64,
    _png_alpha,
    _resized,
    _tf_resizes,
    _which,
)
from harness.diagnose.known.model import Found, Seen


def _resize_grid(seen: Seen) -> Found | None:
    shaped = _resized(seen)
    if shaped is None:
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
    shaped = _resized(seen)
    if shaped is None:
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
