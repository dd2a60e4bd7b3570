"""What a divergent stage gets as its explanation, in order: a known divergence whose evidence
holds on its arrays (diagnose/known.py), else the relation its two arrays bear to each other
(diagnose/symptoms.py), else a plain statement that nothing the harness knows explains it."""

from __future__ import annotations

from harness.diagnose.known import Seen, explain
from harness.diagnose.symptoms import attach
from harness.results import StageResult

NOTHING = (
    "no known divergence (docs/known-divergences.md) matches this stage and no simple "
    "relation (transpose, channel order, scale, offset, shift, clip, rounding) fits its two "
    "arrays: compare what the two sides compute here"
)


def diagnose(stage: StageResult, seen: Seen | None) -> None:
    """Give `stage` hints when it has none: the known divergences whose evidence holds
    (`source: "known divergence"`), else its symptoms (`source: "symptom"`), else one hint
    saying nothing matched (`source: "none"`). A stage that already has hints (a setting search
    that reproduced the JS output, the pipeline file's own settings) keeps them."""
    if stage.hints:
        return
    if seen is not None:
        stage.hints = explain(seen)
        if not stage.hints:
            attach(stage, seen.reference, seen.candidate)
    if not stage.hints:
        stage.hints = [{"text": NOTHING, "source": "none", "reproduces": None}]
