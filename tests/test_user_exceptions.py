"""Whatever the user's Python raises ends that run only, as its error at the step or tap where
it happened: an Exception, sys.exit(), and the other BaseExceptions a library or the user may
raise (asyncio.CancelledError, a class of their own). Only Ctrl-C and SIGTERM stop a whole run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.stopping import RunStopped
from harness.runtimes import python_ref, user_python
from harness.specs import spec

REPO = Path(__file__).parent.parent
SCAN = REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"
RAISES = {
    "cancelled": "import asyncio\n    raise asyncio.CancelledError()",
    "own class": "class Boom(BaseException):\n        pass\n    raise Boom('boom')",
    "exit": "import sys\n    sys.exit(3)",
    "generator exit": "raise GeneratorExit()",
}


def _load(tmp_path: Path, doc: dict) -> spec.Pipeline:
    (tmp_path / "web").mkdir(exist_ok=True)
    (tmp_path / "web" / "code.js").write_text("export function run() {}\n")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**doc, "cases": [{"file": str(SCAN)}]}))
    return spec.load(path)


@pytest.mark.parametrize("raised", sorted(RAISES))
def test_user_code_that_raises_a_base_exception_is_its_runs_error(tmp_path, raised) -> None:
    (tmp_path / "user.py").write_text(
        f"def run(path, tap):\n    tap('a', __import__('numpy').zeros(2))\n    {RAISES[raised]}\n"
    )
    pipeline = _load(
        tmp_path, {"name": "u", "code": {"python": "user.py:run", "js": "web/code.js#run"}}
    )
    out = user_python.run(pipeline, pipeline.cases[0].load(), timeout=30)
    assert "a" in out.stages  # the tap before it is kept
    (failure,) = out.failures.values()
    assert "raised" in failure.message


@pytest.mark.parametrize("raised", sorted(RAISES))
def test_a_custom_op_that_raises_a_base_exception_fails_its_step(tmp_path, raised) -> None:
    (tmp_path / "ops.py").write_text(f"def bad(x):\n    {RAISES[raised]}\n")
    pipeline = _load(
        tmp_path,
        {
            "name": "o",
            "ops": {"bad": {"python": "ops.py:bad", "js": "web/code.js#run"}},
            "steps": [{"op": "decode"}, {"name": "b", "op": "bad"}],
        },
    )
    for timeout in (None, 30):  # run here, or on a thread of its own
        out = python_ref.run(pipeline, pipeline.cases[0].load(), timeout)
        assert list(out.failures) == ["b"] and "decode" in out.stages


@pytest.mark.parametrize("stop", ["KeyboardInterrupt", "RunStopped"])
def test_ctrl_c_or_sigterm_in_user_code_still_stops_the_whole_run(tmp_path, stop) -> None:
    """The CLI's SIGTERM handler raises RunStopped (pytest's, KeyboardInterrupt) in the main
    thread, wherever it is: in the user's code or op, or waiting for it."""
    raise_it = f"from harness.core.stopping import RunStopped\n    raise {stop}()"
    (tmp_path / "user.py").write_text(f"def run(path, tap):\n    {raise_it}\n")
    (tmp_path / "ops.py").write_text(f"def bad(x):\n    {raise_it}\n")
    code = _load(
        tmp_path, {"name": "u", "code": {"python": "user.py:run", "js": "web/code.js#run"}}
    )
    ops = _load(
        tmp_path,
        {
            "name": "o",
            "ops": {"bad": {"python": "ops.py:bad", "js": "web/code.js#run"}},
            "steps": [{"op": "decode"}, {"name": "b", "op": "bad"}],
        },
    )
    expected = KeyboardInterrupt if stop == "KeyboardInterrupt" else RunStopped
    for timeout in (None, 30):
        with pytest.raises(expected):
            user_python.run(code, code.cases[0].load(), timeout=timeout)
        with pytest.raises(expected):
            python_ref.run(ops, ops.cases[0].load(), timeout)


@pytest.mark.parametrize("raised", sorted(RAISES))
def test_a_custom_op_that_raises_only_when_re_run_for_its_budget_gets_no_budget(
    tmp_path, raised
) -> None:
    """The budget re-runs a custom op (its float terms); what its re-run raises costs that
    stage its budget (its tolerance policy judges it), never the run."""
    body = RAISES[raised].replace("\n    ", "\n        ")
    (tmp_path / "ops.py").write_text(
        "import numpy as np\nCALLS = []\n\ndef flaky(x):\n    CALLS.append(1)\n"
        f"    if len(CALLS) > 1:\n        {body}\n"
        "    return np.asarray(x, dtype=np.float32) * 0.5\n"
    )
    pipeline = _load(
        tmp_path,
        {
            "name": "o",
            "ops": {"flaky": {"python": "ops.py:flaky", "js": "web/code.js#run"}},
            "steps": [{"op": "decode"}, {"name": "f", "op": "flaky"}],
        },
    )
    case = pipeline.cases[0].load()
    calls = pipeline.steps[1].custom.python_function.__globals__["CALLS"]
    for timeout in (None, 30):
        calls.clear()  # the first call of each pass succeeds
        reference = python_ref.run(pipeline, case, timeout)
        assert "f" in reference.stages and not reference.failures
        terms = python_ref.terms(pipeline, case, reference, timeout)
        assert "f" not in terms and "decode" in terms
