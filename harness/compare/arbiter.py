"""Two pages disagree: which one does Python agree with?

When a page is the reference (`--reference chromium:webgl`), a failing stage says only that the
pages differ. Python's outputs of the same case are at hand (they name the stages and give the
budgets), so the stage where the pages first diverge is compared with Python on each page, end
to end, under each page's own tolerance against Python: the page Python agrees with is not the
one that diverges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.compare.metrics import BlockSource
from harness.compare.policy import Tolerance
from harness.compare.stages import compare_stage

PolicyFor = Callable[[str, np.dtype], Tolerance]


def against_python(
    stage: str,
    python: Any,
    reference: Any,
    candidate: Any,
    reference_policy: PolicyFor,
    candidate_policy: PolicyFor,
) -> dict[str, Any] | None:
    """`stage` of each page compared with Python's, end to end: {"stage", "reference",
    "candidate"}, each {"verdict": "pass"|"fail", "max_abs", "mismatch" (share of elements
    past the tolerance), "nonfinite" (elements where NaN/Inf sit on one side only), "message"
    (a shape or dtype that differs, or the mismatch in words)}. The arrays are the stage's
    values (any shape and dtype; `candidate` may be read in blocks). None when one of the
    three is not an array (the stage is several tensors, or a side did not reach it)."""
    if not isinstance(python, np.ndarray) or not isinstance(reference, np.ndarray):
        return None
    if not isinstance(candidate, np.ndarray | BlockSource):
        return None
    sides = {}
    for role, page, policy_for in (
        ("reference", reference, reference_policy),
        ("candidate", candidate, candidate_policy),
    ):
        judged = compare_stage(stage, python, page, policy_for(stage, python.dtype))
        m = judged.chained
        sides[role] = {
            "verdict": judged.verdict,
            "max_abs": m.max_abs if m is not None else None,
            "mismatch": m.mismatch_fraction if m is not None else None,
            "nonfinite": m.nonfinite_mismatched if m is not None else None,
            "message": judged.message,
        }
    return {"stage": stage, **sides}
