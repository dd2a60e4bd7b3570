"""The Python side of a bring-your-own-code pipeline: the user's function on the case's file,
its taps recorded in call order as the stages."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.outputs import RuntimeOutput, StageFailure
from harness.runtimes.bounded import PythonTimeout, bounded, ends_user_run
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline

HARNESS = Path(__file__).resolve().parents[1]
# A failure's stage is set once both sides ran (the first tap the failing side did not reach).
UNPLACED = ""


class TapError(ValueError):
    """A tap call the harness cannot take (name used twice, not a tensor)."""


def run(pipeline: CodePipeline, case: Case, timeout: float | None = None) -> RuntimeOutput:
    """`function(path, tap)`; an exception stops the run and names the last tap reached; with
    `timeout`, so does the code taking longer than that before its first tap, between two
    taps or after its last."""
    taps: dict[str, np.ndarray] = {}
    last_tap = [0.0]  # monotonic time of the last tap

    def tap(name: str, tensor: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TapError(f"tap(name, tensor): the name must be a non-empty string, got {name!r}")
        if name in taps:
            raise TapError(
                f"tap {name!r} is used twice: each tap names one comparison, give each a name "
                "of its own"
            )
        taps[name] = as_array(name, tensor)
        last_tap[0] = time.monotonic()

    path = Path(case.meta.get("source", ""))
    out = RuntimeOutput(taps)
    t0 = time.perf_counter()

    def where() -> str:
        last = next(reversed(taps), None)
        return f"after tap {last!r}" if last else "before any tap"

    try:
        if timeout is None:
            pipeline.python_function(path, tap)
        else:
            bounded(
                lambda: pipeline.python_function(path, tap),
                timeout,
                lambda: f"Python code ({pipeline.python}) {where()}",
                progress=lambda: last_tap[0],
            )
    except PythonTimeout as e:  # no numbers to judge: an error, not a failed tap
        out.failures[UNPLACED] = StageFailure(UNPLACED, str(e), harness=True)
    except BaseException as e:  # sys.exit(), CancelledError... in the user's code end their run
        if not ends_user_run(e):
            raise
        out.failures[UNPLACED] = StageFailure(
            UNPLACED,
            f"Python code ({pipeline.python}) raised {type(e).__name__} {where()}: {e}",
            _user_traceback(e),
        )
    out.timings["compute"] = time.perf_counter() - t0
    return out


def _user_traceback(e: BaseException) -> str:
    """The traceback without the harness's own frames (the tap call's inside, this runner)."""
    frames = [
        f
        for f in traceback.extract_tb(e.__traceback__)
        if not Path(f.filename).resolve().is_relative_to(HARNESS)
    ]
    lines = "".join(traceback.format_list(frames))
    return f"Traceback (the user's frames):\n{lines}{type(e).__name__}: {e}"


def as_array(name: str, tensor: Any) -> np.ndarray:
    """A numpy array or scalar, or a TF tensor (anything with .numpy()); nothing else."""
    if isinstance(tensor, np.ndarray | np.generic):
        return np.asarray(tensor)
    if hasattr(tensor, "numpy") and callable(tensor.numpy):
        return np.asarray(tensor.numpy())
    raise TapError(
        f"tap {name!r}: a {type(tensor).__name__} is not a tensor (tap a numpy array or a TF "
        "tensor; np.asarray(...) makes one from a list)"
    )
