"""Small result objects for tests that judge or render results without running a comparison."""

from __future__ import annotations

from typing import Any

from harness.core.results import Metrics


def metrics(max_abs: float = 0.0, **fields: Any) -> Metrics:
    """Metrics of a 2-element float32 stage off by `max_abs` everywhere (0: exact)."""
    defaults: dict[str, Any] = {
        "max_rel": max_abs,
        "max_ulp": 0 if max_abs == 0 else 1 << 20,
        "mismatch_fraction": 0.0 if max_abs == 0 else 1.0,
        "allclose": max_abs == 0,
        "mismatched": 0 if max_abs == 0 else 2,
        "total": 2,
        "nonfinite_mismatched": 0,
        "worst_index": (0,),
        "worst_reference": 0.0,
        "worst_candidate": max_abs,
    }
    return Metrics(max_abs=max_abs, **{**defaults, **fields})
