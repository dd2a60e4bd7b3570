"""The Python references a session keeps: reused while they fit, least recently used dropped."""

import numpy as np

from harness.orchestrate import orchestrator
from harness.specs import spec
from harness.specs.cases import Case

PIPELINE = spec.parse(
    {
        "name": "p",
        "steps": [
            {
                "name": "normalize",
                "op": "normalize",
                "params": {"mean": 1.0, "std": 2.0},
                "python": {"precision": "float64"},
            }
        ],
    }
)


def case(i: int) -> Case:
    return Case(f"c{i}", np.full((256, 256, 1), i, dtype=np.uint16))


def test_reference_is_computed_once_while_it_fits():
    h = orchestrator.Harness()
    first = h.reference(PIPELINE, case(1))
    assert h.reference(PIPELINE, case(1)) is first


def test_least_recently_used_reference_goes_when_over_budget(monkeypatch):
    # each reference: 128 KiB input + 512 KiB float64 output; budget for two
    monkeypatch.setenv("TFJS_PARITY_REFERENCE_CACHE_MB", "1.3")
    h = orchestrator.Harness()
    one = h.reference(PIPELINE, case(1))
    two = h.reference(PIPELINE, case(2))
    assert h.reference(PIPELINE, case(1)) is one  # used last: case 2 is now the oldest
    h.reference(PIPELINE, case(3))
    assert h.reference(PIPELINE, case(1)) is one
    again = h.reference(PIPELINE, case(2))
    assert again is not two and np.array_equal(again.stages["normalize"], two.stages["normalize"])
