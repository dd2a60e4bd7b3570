"""A setting search's finding in the user's terms: the hint's text (a setting that reproduces
TF.js, the closest one, or none), and the call that computes the same on each side (the Python
call a user writes, the TF.js call, the JS settings equivalent to Python's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.core.results import Metrics
from harness.specs.op_schemas import SCHEMAS
from harness.specs.step import Step


def hint(
    step: Step,
    current: dict[str, Any],
    alt: dict[str, Any],
    m: Metrics,
    input_shape: tuple[int, ...],
    reproduces: bool,
) -> dict[str, Any]:
    js = js_equivalent(step.op, current, input_shape)
    chosen = {**current, **alt}
    calls = {"python": python_call(step.op, chosen), "js": js_call(step.op, js, current)}
    in_python = f" ({calls['python']})" if calls["python"] else ""
    in_js = _js_fix(step.op, js, calls["js"])
    if reproduces and step.op == "decode":
        text = (
            f"pydicom decoding with {_fmt(alt)} gives what the page gives ({_closeness(m)}), "
            f"while Python decodes with plugin={_value(current['plugin'])} (null: the one "
            "web/page/codecs.json names): decoders of a lossy format may differ and both be "
            "right (JPEG's standard lets inverse DCTs differ by a grey level; the page's JPEG "
            f"codec is libjpeg-turbo, as pillow's is). To agree, set the Python decode to "
            f"{_fmt(alt)}."
        )
    elif reproduces:
        relevant = {k: current[k] for k in _relevant(step.op, current)}
        text = (
            f"TF.js's {step.op} gives what Python gives with {_fmt(alt)} ({_closeness(m)}), "
            f"while Python runs {_fmt(relevant)}: the two sides are set differently. To agree, "
            f"set the Python {step.op} to {_fmt(alt)}{in_python}{in_js}."
        )
    else:
        text = (
            f"No Python setting of {step.op} reproduces TF.js's output. The closest is "
            f"{_fmt(alt)} ({_closeness(m)}), so the two sides are set differently (to agree, "
            f"set the Python {step.op} to it{in_python}{in_js}) and, beyond that, this "
            f"backend computes {step.op} differently from Python in those {m.mismatched} "
            "elements."
        )
    return {
        "text": text,
        "reproduces": reproduces,
        "python_settings": alt,
        "max_abs": m.max_abs,
        "mismatch_fraction": m.mismatch_fraction,
        "js_settings": js,
        "fix": calls,
        "source": "setting search",
    }


def no_setting(step: Step, own: Metrics) -> dict[str, Any]:
    """No alternative setting comes much closer than Python's own: the difference is not one
    of this op's settings, and the hint says only that."""
    return {
        "text": (
            f"No Python setting of {step.op} the harness tries reproduces TF.js's output or "
            f"comes much closer than the current one (max |js - python| {own.max_abs:.3g}): "
            f"the difference is not a setting of {step.op}; compare the op's constants and "
            "formula on the two sides."
        ),
        "reproduces": False,
        "python_settings": None,
        "max_abs": own.max_abs,
        "mismatch_fraction": own.mismatch_fraction,
        "js_settings": None,
        "source": "setting search",
    }


def _closeness(m: Metrics) -> str:
    return f"max |diff| {m.max_abs:.3g}, {m.mismatched} of {m.total} elements outside tolerance"


def _js_fix(op: str, js: dict[str, Any] | None, call: str) -> str:
    """The JS side of a fix: the TF.js call, with the step's js settings that run it."""
    if js is None:
        return "; TF.js has no exact equivalent of Python's current setting"
    if call.startswith("none exists"):
        return f"; in TF.js {call} (the harness's own {op} step runs it as {_fmt(js)})"
    return (
        f", or in TF.js {call} (the step's js settings {_fmt(js)}), TF.js's equivalent of Python's"
    )


def _relevant(op: str, settings: dict[str, Any]) -> list[str]:
    if op == "resize":
        keys = (
            ["order", "mode", "anti_aliasing"]
            if settings["impl"] == "skimage"
            else ["method", "align_corners", "half_pixel_centers", "antialias"]
        )
        return ["impl", *keys]
    return [k for k in settings if k not in SCHEMAS[op].common]


def js_equivalent(
    op: str, python: dict[str, Any], input_shape: tuple[int, ...]
) -> dict[str, Any] | None:
    """The JS settings that compute what the Python settings compute, where TF.js can."""
    if op != "resize":
        return None
    if python["impl"] == "tf":
        if python["antialias"]:
            return None  # TF's antialias kernel is not TF.js's (it has none)
        return {k: python[k] for k in ("method", "align_corners", "half_pixel_centers")}
    if python["order"] not in (0, 1):
        return None
    spatial = input_shape[-3:-1] if len(input_shape) >= 3 else input_shape
    shrinking = any(o < i for o, i in zip(python["size"], spatial, strict=False))
    enlarging = any(o > i for o, i in zip(python["size"], spatial, strict=False))
    aa = python["anti_aliasing"] if python["anti_aliasing"] is not None else shrinking
    if enlarging and (aa or (python["order"] == 1 and python["mode"] != "edge")):
        return None  # skimage mirrors the border when enlarging; TF.js clamps it
    return {
        "method": "nearest" if python["order"] == 0 else "bilinear",
        "align_corners": False,
        "half_pixel_centers": True,
        "antialias": "skimage" if aa else None,
    }


def python_call(op: str, settings: Mapping[str, Any]) -> str | None:
    """The Python call a user writes for the op with these (the harness's) settings."""
    if op == "normalize":
        dtype = "np.float64" if settings.get("precision") == "float64" else "np.float32"
        return f"(x.astype({dtype}) - mean) / std"
    if op != "resize":
        return None
    size = list(settings["size"])
    if settings["impl"] == "skimage":
        aa = settings.get("anti_aliasing")
        return (
            f"skimage.transform.resize(x, {tuple(size)}, order={settings['order']}, "
            f"anti_aliasing={aa}, mode={settings['mode']!r}, preserve_range=True)"
        )
    method, ac, hp = settings["method"], settings["align_corners"], settings["half_pixel_centers"]
    if not ac and hp:
        aa = ", antialias=True" if settings.get("antialias") else ""
        return f"tf.image.resize(x, {size}, method={method!r}{aa})"
    name = "resize_bilinear" if method == "bilinear" else "resize_nearest_neighbor"
    return f"tf.compat.v1.image.{name}(x, {size}, align_corners={ac}, half_pixel_centers={hp})"


NO_ANTIALIAS_IN_TFJS = (
    "none exists: TF.js has no anti-aliased resize (resizeBilinear and resizeNearestNeighbor "
    "sample only the nearest source pixels): shrink with tf.avgPool(x, k, k, 'valid') for an "
    "integer factor k, or blur (tf.depthwiseConv2d with a Gaussian) and then "
    "tf.image.resizeBilinear(x, [h, w], false, true): close to scikit-image's anti-aliasing, "
    "not equal"
)


def js_call(op: str, js: Mapping[str, Any] | None, python: Mapping[str, Any]) -> str:
    """The TF.js call that computes what `python` computes, in the user's terms."""
    if op == "normalize":
        return "x.sub(mean).div(std) (TF.js computes in float32 whatever Python does)"
    if op != "resize" or js is None:
        return "none exists: TF.js has no exact equivalent of Python's current setting"
    if js.get("antialias"):
        return NO_ANTIALIAS_IN_TFJS
    size = list(python["size"])
    name = "resizeBilinear" if js["method"] == "bilinear" else "resizeNearestNeighbor"
    ac, hp = (_value(js[k]) for k in ("align_corners", "half_pixel_centers"))
    return f"tf.image.{name}(x, {size}, {ac}, {hp})"


def _fmt(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in settings.items())


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return repr(v) if isinstance(v, str) else str(v)
