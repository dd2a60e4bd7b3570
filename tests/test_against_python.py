"""Two pages disagree: each compared with Python where they first diverge
(compare/arbiter.py), and the sentence that says which page Python agrees with
(report/against_python.py)."""

import numpy as np
import pytest

from harness.compare.arbiter import against_python
from harness.compare.stages import default_policies
from harness.core.results import RunResult
from harness.report.against_python import against_python_line

POLICY = default_policies("float32")
PYTHON = np.linspace(-1, 1, 100, dtype=np.float32).reshape(10, 10)


def test_the_page_python_agrees_with_passes_and_the_other_fails_with_its_figures():
    off = PYTHON.copy()
    off[0, :5] += 0.01  # 5 of 100 elements
    said = against_python("sin", PYTHON, off, PYTHON.copy(), POLICY, POLICY)
    assert said["stage"] == "sin"
    assert said["reference"]["verdict"] == "fail"
    assert said["reference"]["max_abs"] == pytest.approx(0.01, rel=1e-3)
    assert said["reference"]["mismatch"] == pytest.approx(0.05)
    passed = {"verdict": "pass", "max_abs": 0.0, "mismatch": 0.0, "nonfinite": 0, "message": None}
    assert said["candidate"] == passed


def test_a_shape_or_dtype_that_differs_from_pythons_is_a_fail_that_says_so():
    said = against_python("s", PYTHON, PYTHON[:5], PYTHON.astype(np.int32), POLICY, POLICY)
    assert said["reference"]["verdict"] == "fail" and said["reference"]["max_abs"] is None
    assert "shape differs" in said["reference"]["message"]
    assert "dtype differs" in said["candidate"]["message"]


def test_nothing_is_told_where_a_side_holds_no_single_array():
    assert against_python("s", None, PYTHON, PYTHON, POLICY, POLICY) is None
    assert against_python("s", PYTHON, {"a": PYTHON}, PYTHON, POLICY, POLICY) is None
    assert against_python("s", PYTHON, PYTHON, None, POLICY, POLICY) is None


def _run(ref: str, page: str) -> RunResult:
    def side(verdict: str) -> dict:
        fails = verdict == "fail"
        return {
            "verdict": verdict,
            "max_abs": 1.9e-4 if fails else 6e-8,
            "mismatch": 0.87 if fails else 0.0,
            "message": None,
        }

    run = RunResult("firefox", "webgl", "ok", reference="chromium:webgl")
    run.against_python = {"stage": "sin", "reference": side(ref), "candidate": side(page)}
    return run


@pytest.mark.parametrize(
    ("ref", "page", "verdict"),
    [
        ("fail", "pass", "the reference diverges from Python, not this page"),
        ("pass", "fail", "this page diverges from Python, not the reference"),
        ("fail", "fail", "both diverge from Python"),
        ("pass", "pass", "both are within Python's tolerance, and further from each other"),
    ],
)
def test_the_sentence_names_the_page_that_diverges_from_python(ref, page, verdict):
    line = against_python_line(_run(ref, page))
    assert line.startswith("against Python at sin, end to end: the reference chromium:webgl ")
    assert verdict in line


def test_the_sentence_gives_each_sides_figures():
    line = against_python_line(_run("fail", "pass"))
    assert "chromium:webgl is off (max 0.00019, 87% past the tolerance)" in line
    assert "this page is within (max 6e-08)" in line
    assert against_python_line(RunResult("chromium", "cpu", "ok")) is None


def test_nan_or_inf_unlike_pythons_is_said_as_such_not_as_max_0():
    nan = PYTHON.copy()
    nan[0, 0] = np.nan
    said = against_python("s", PYTHON, nan, PYTHON.copy(), POLICY, POLICY)
    assert (said["reference"]["verdict"], said["reference"]["nonfinite"]) == ("fail", 1)
    run = RunResult("chromium", "cpu", "ok", reference="chromium:wasm")
    run.against_python = said
    line = against_python_line(run)
    assert "chromium:wasm is off (NaN/Inf unlike Python's at 1 element(s); elsewhere max 0)" in line
    assert line.endswith("the reference diverges from Python, not this page")


def test_a_page_that_cannot_open_is_said_and_no_other_page_error_hides_a_harness_fault():
    from harness.orchestrate.errors import run_error
    from harness.runtimes.driver import PageError

    opening = PageError("a new page could not open: Page.goto: net::ERR_NAME_NOT_RESOLVED")
    assert run_error(opening) == str(opening)
    assert run_error(PageError("something else")).startswith("harness error: PageError: ")
