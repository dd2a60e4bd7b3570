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
from harness.compare.metrics import Metrics, compare
from harness.compare.policy import Tolerance
from harness.diagnose.setting_hints import hint, no_setting
from harness.ops.op_terms import python_op, step_terms
from harness.specs.op_schemas import SCHEMAS
from harness.specs.params import validate
from harness.specs.step import Step

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
            return [no_setting(step, own)]
        return [hint(step, current, settings, m, python_input.shape, reproduces=False)]
    return [hint(step, current, s, m, python_input.shape, reproduces=True) for s, m in reproducing]


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
