"""What kind of error a stage makes on its own, for stages without a float budget
(compare/budget.py judges the others): a stage whose tolerance the user set, a graph node whose
inputs cannot be read, a whole model run without its layers, a code pipeline's tap. None,
float32 rounding, float16, or semantics.

The rule, applied to the stage's own (isolated) error against Python:
- none: JS gives exactly Python's answer rounded to float32 (0 ULP; exact for integers);
- float32: the error is within what float32 arithmetic costs here, either at most 4x the error
  of the same Python op redone in float32 (its input and arithmetic in float32), or at most 64
  float32 ULPs of the tensor's largest magnitude (float32 intermediates such as TF.js's sampling
  coordinates cost that much; a different formula costs far more);
- float16: the page runs float16 textures and the error is within 8 float16 ULPs of the
  tensor's largest magnitude;
- semantic: anything larger, or NaN/Inf, shape or dtype disagreements: the two sides do not
  compute the same thing (different settings, grid, algorithm); see the stage's hints.
"""

from __future__ import annotations

import numpy as np

from harness.core.results import Metrics

FLOAT32_ULPS_OF_SCALE = 64
FLOAT16_ULPS_OF_SCALE = 8
REDO_FACTOR = 4
EPS32 = float(np.finfo(np.float32).eps)
EPS16 = float(np.finfo(np.float16).eps)


def classify(
    metrics: Metrics | None,
    reference: np.ndarray | None,
    precision: str,
    redo_error: float | None = None,
) -> str:
    if metrics is None or reference is None or metrics.nonfinite_mismatched:
        return "semantic"
    exact = metrics.max_ulp == 0 if reference.dtype.kind == "f" else metrics.max_abs == 0
    if exact:
        return "none"
    finite = reference[np.isfinite(reference)] if reference.dtype.kind == "f" else reference
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    scale = scale or 1.0
    error = metrics.max_abs
    float32_bound = FLOAT32_ULPS_OF_SCALE * EPS32 * scale
    if redo_error is not None:
        float32_bound = max(float32_bound, REDO_FACTOR * redo_error)
    if error <= float32_bound:
        return "float32"
    if precision == "float16" and error <= FLOAT16_ULPS_OF_SCALE * EPS16 * scale:
        return "float16"
    return "semantic"
