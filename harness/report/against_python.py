"""Two pages disagree: the sentence that says which one Python agrees with, from a run's
`against_python` (each page against Python where the pages first diverge, end to end)."""

from __future__ import annotations

from typing import Any

from harness.core.results import RunResult


def against_python_line(run: RunResult) -> str | None:
    """'against Python at sin, end to end: the reference chromium:webgl is off (max 1.9e-04,
    87% past the tolerance), this page is within (max 6e-08): the reference diverges from
    Python, not this page'; None where the run holds no such comparison (Python was the
    reference, the run passed, or the stage is not one array on all three sides)."""
    a = run.against_python
    if a is None:
        return None
    ref, page = a["reference"], a["candidate"]
    ref_ok, page_ok = ref["verdict"] == "pass", page["verdict"] == "pass"
    if "error" in (ref["verdict"], page["verdict"]):
        verdict = "not told: a side could not be read"
    elif page_ok and not ref_ok:
        verdict = "the reference diverges from Python, not this page"
    elif ref_ok and not page_ok:
        verdict = "this page diverges from Python, not the reference"
    elif not ref_ok:
        verdict = "both diverge from Python"
    else:
        verdict = "both are within Python's tolerance, and further from each other than that"
    return (
        f"against Python at {a['stage']}, end to end: the reference {run.reference} "
        f"{_side(ref)}, this page {_side(page)}: {verdict}"
    )


def _side(side: dict[str, Any]) -> str:
    if side["verdict"] == "error" or side["max_abs"] is None:
        return f"cannot be compared ({side['message'] or 'no values'})"
    if side["verdict"] == "pass":
        return f"is within (max {side['max_abs']:.2g})"
    if side.get("nonfinite"):  # NaN/Inf where Python has a number (or the other sign)
        return (
            f"is off (NaN/Inf unlike Python's at {side['nonfinite']} element(s); elsewhere "
            f"max {side['max_abs']:.2g})"
        )
    share = f", {side['mismatch']:.0%} past the tolerance" if side["mismatch"] else ""
    return f"is off (max {side['max_abs']:.2g}{share})"
