"""Hints for a stage that differs in semantics: which Python setting reproduces the JS output.

The Python side of the op is re-run, on the stage's own Python input, over the catalogue's
alternative settings (resize: TF's nearest or bilinear on each grid, then scikit-image's order /
anti-aliasing / border mode; normalize: float32 or float64 arithmetic).
Each result is compared with the JS output of the isolated run under the stage's policy. The
hint says which setting reproduces TF.js, how closely, and what to change on which side.
TF's nearest and bilinear kernels come from a numpy port checked bit for bit against TF
(ops/tf_resize.py), so a hint never waits seconds for TensorFlow to import. TF's antialias
resize is not tried: TF.js has no antialias kernel an output could come from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.compare import budget
from harness.compare.metrics import Metrics, Tolerance, compare
from harness.ops.op_terms import python_op, step_terms
from harness.specs.op_schemas import SCHEMAS
from harness.specs.params import validate
from harness.specs.spec import Step

GRIDS = ((False, True), (True, False), (False, False))  # (align_corners, half_pixel_centers)
# Tried in rounds, cheapest first; the search stops after the first round that reproduces the
# JS output, or nearly does (under NEAR of the elements off: a setting plus a backend detail).
ROUNDS: dict[str, list[list[dict[str, Any]]]] = {
    "resize": [
        [  # TF's kernels, ported to numpy: milliseconds
            {"impl": "tf", "method": m, "align_corners": ac, "half_pixel_centers": hp}
            for m in ("nearest", "bilinear")
            for ac, hp in GRIDS
        ],
        [  # scikit-image: tens of milliseconds each
            {"impl": "skimage", "order": order, "anti_aliasing": aa, "mode": mode}
            for order in (0, 1)
            for aa in (False, True)
            for mode in ("reflect", "edge")
        ],
    ],
    "normalize": [[{"precision": "float64"}, {"precision": "float32"}]],
    # Lossy JPEG: IDCTs may differ by one level and still conform (ISO 10918-2); pillow decodes
    # with libjpeg-turbo, as the page's codec does. A file that is not compressed decodes the
    # same with each plugin: those tries are dropped.
    "decode": [[{"plugin": p} for p in ("pillow", "pylibjpeg", "pydicom")]],
}
MAX_HINTS = 3
NEAR = 0.01
CLOSER = 0.1  # a setting that does not reproduce TF.js is named only if this much closer


def hints_for(
    step: Step,
    case_params: Mapping[str, Any],
    python_input: np.ndarray,
    js_output: np.ndarray,
    tol: Tolerance,
    precision: str = "float32",
) -> list[dict[str, Any]]:
    """Alternative Python settings that reproduce the JS output: within the float budget of
    the op with those settings (compare/budget.py) on a page computing in `precision`, or
    within `tol` when the user set the stage's tolerance."""
    current = step.settings("python", case_params)
    if differing_settings(step, case_params):
        # the pipeline file itself gives the sides different values: whether that explains the
        # stage is the known-divergence catalogue's to say (diagnose/known/)
        return []
    if step.op not in ROUNDS:
        return []
    now = np.asarray(python_op(step.op, current, python_input))
    tried: list[tuple[dict[str, Any], Metrics]] = []
    for alternatives in ROUNDS[step.op]:
        tried += _try(step, current, now, alternatives, python_input, js_output, tol, precision)
        if any(m.passed or m.mismatch_fraction < NEAR for _, m in tried):
            break
    if not tried:
        return []
    tried.sort(key=lambda t: (not t[1].passed, t[1].mismatch_fraction, t[1].max_abs))
    reproducing = [t for t in tried if t[1].passed][:MAX_HINTS]
    if not reproducing:
        settings, m = tried[0]
        own = compare(now, js_output, tol)
        closer = m.max_abs < CLOSER * own.max_abs or (
            m.mismatch_fraction < CLOSER * own.mismatch_fraction
        )
        if not closer:  # no setting explains much of it
            return [_no_setting(step, own)]
        return [_hint(step, current, settings, m, python_input.shape, reproduces=False)]
    return [_hint(step, current, s, m, python_input.shape, reproduces=True) for s, m in reproducing]


def differing_settings(step: Step, case_params: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Settings both sides take (a catalogue op's common ones; a custom op's: those given to
    both) to which the pipeline file gives different values: name -> (python, js)."""
    python, js = step.settings("python", case_params), step.settings("js", case_params)
    schema = SCHEMAS.get(step.op) if step.custom is None else None
    keys = list(schema.common) if schema is not None else sorted(python.keys() & js.keys())
    return {k: (python[k], js[k]) for k in keys if k in python and k in js and python[k] != js[k]}


def _try(
    step: Step,
    current: dict[str, Any],
    now: np.ndarray,
    alternatives: list[dict[str, Any]],
    x: np.ndarray,
    js_output: np.ndarray,
    tol: Tolerance,
    precision: str,
) -> list[tuple[dict[str, Any], Metrics]]:
    """Each alternative's output against the JS output; one that computes exactly what Python
    computes now (`now`) is no different setting here (e.g. a decoding plugin for a file that
    is not compressed) and is left out."""
    schema = SCHEMAS[step.op]
    common = {k: current[k] for k in schema.common}
    out = []
    for alt in alternatives:
        settings = validate({**schema.common, **schema.python}, {**common, **alt}, "hint")
        if schema.check_python:
            schema.check_python({**common, **alt}, settings, "hint")
        if settings == current:
            continue  # what Python already does
        try:
            y = np.asarray(python_op(step.op, settings, x))
        except Exception:
            continue
        if y.shape == js_output.shape and not np.array_equal(y, now):
            m = compare(y, js_output, tol)
            if not tol.explicit:  # reproduced: explained by float arithmetic, not a tolerance
                terms = step_terms(step.op, settings, x, y)
                verdict = budget.judge(y, js_output, terms, precision).verdict
                m = dataclasses.replace(m, passed=verdict == "pass")
            out.append((alt, m))
    return out


def _hint(
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


def _no_setting(step: Step, own: Metrics) -> dict[str, Any]:
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
