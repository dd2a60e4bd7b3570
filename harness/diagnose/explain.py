"""What a divergent stage gets as its explanation, in order: a known divergence whose evidence
holds on its arrays (diagnose/known/), else the relation its two arrays bear to each other
(diagnose/symptoms.py), else a plain statement that nothing the harness knows explains it."""

from __future__ import annotations

import numpy as np

from harness.compare.stages import held_differently
from harness.core.outputs import STREAM_BYTES
from harness.core.results import StageResult
from harness.diagnose.known import Seen, explain
from harness.diagnose.symptoms import MIN_DISTINCT, symptom_hints

NOTHING = (
    "no known divergence (docs/known-divergences.md) matches this stage and no simple "
    "relation (transpose, channel order, scale, offset, shift, clip, rounding, crop, reshape, "
    "dtype) was found to hold, in one way only, for every element of its two arrays: compare "
    "what the two sides compute here"
)


def _distinct(a: np.ndarray) -> int:
    values = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    return len(np.unique(values))


def not_held(stage: StageResult, nbytes: int) -> None:
    """A stage too large to hold whole (compared slice by slice as it was pulled): say that it
    was not diagnosed, rather than nothing."""
    if not any(h.get("reproduces") for h in stage.hints):
        text = (
            f"not diagnosed: the stage is {nbytes / (1 << 20):.1f} MB ({nbytes} bytes), compared "
            "slice by slice "
            "as it came from the page; the explanations test both arrays whole, which the "
            f"harness does not hold above {STREAM_BYTES >> 20} MB ({STREAM_BYTES} bytes)"
        )
        stage.hints = [*stage.hints, {"text": text, "source": "none", "reproduces": None}]


def diagnose(stage: StageResult, seen: Seen | None) -> None:
    """Add to `stage`'s hints, unless one already explains it (a setting search that
    reproduced the JS output): the known divergences whose evidence holds (`source: "known
    divergence"`), else its symptoms (`source: "symptom"`), else, when it has no hint at all,
    one saying nothing matched (`source: "none"`). `seen` None (a side has no array: it
    failed) adds nothing: there is nothing to read."""
    if seen is None or any(h.get("reproduces") for h in stage.hints):
        return
    found = explain(seen) or symptom_hints(seen.reference, seen.candidate)
    if not found and not stage.hints:
        # a shape or dtype that differs in the arrays read is the finding itself: said first
        said = "".join(f"{d}; " for d in held_differently(seen.reference, seen.candidate))
        numeric = seen.reference.dtype.kind in "biuf"
        if numeric and (few := _distinct(seen.reference)) < MIN_DISTINCT:  # a mask, a constant
            said += (
                f"python's array holds {few} distinct value(s), too few to tell relations apart; "
            )
        found = [{"text": said + NOTHING, "source": "none", "reproduces": None}]
    stage.hints = [*stage.hints, *found]
