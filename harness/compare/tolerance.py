"""Default tolerances: from the candidate's dtype and the precision its backend really runs at.

Float32: torch.testing's float32 defaults (rtol 1.3e-6, about 11 float32 ULPs; atol 1e-5), not
tfjs-core's 1e-3 test tolerance, which hides real bugs (field notes section 4). A page whose
WebGL textures are float16 is judged by torch.testing's float16 defaults (rtol 1e-3, atol 1e-5).
Integers and booleans must match exactly.
"""

from __future__ import annotations

import numpy as np

from harness.compare.metrics import Tolerance

FLOAT32 = Tolerance(atol=1e-5, rtol=1.3e-6, basis="float32 (torch.testing defaults)")
FLOAT16 = Tolerance(atol=1e-5, rtol=1e-3, basis="float16 backend (torch.testing float16 defaults)")
EXACT = Tolerance(atol=0.0, rtol=0.0, basis="exact (integer or bool)")


def default_tolerance(candidate: np.dtype, precision: str) -> Tolerance:
    if candidate.kind in "iub":
        return EXACT
    return FLOAT16 if precision == "float16" else FLOAT32
