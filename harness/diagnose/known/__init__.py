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

from typing import Any

import numpy as np

from harness.diagnose.known.catalogue import CATALOGUE
from harness.diagnose.known.docs import catalogue_markdown
from harness.diagnose.known.model import Found, Known, LayerFacts, Seen


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


__all__ = ["CATALOGUE", "Found", "Known", "LayerFacts", "Seen", "catalogue_markdown", "explain"]
