"""The interface every side of a comparison implements (the pattern of Polygraphy's runners).

A runtime runs a pipeline on a case and returns each stage's tensor it reached, and the failure
that stopped it (`RuntimeOutput`). The comparator takes any two: a reference and a candidate.
Implementations: `PythonRuntime` (the live Python reference: steps, a model step, the user's
code with taps) and `PageRuntime` (one browser x backend variant page); a recorded reference
is a third that reads its outputs from files.
"""

from __future__ import annotations

from typing import Protocol

from harness.core.outputs import RuntimeOutput
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline
from harness.specs.spec import Pipeline
from harness.specs.variants import Side

AnyPipeline = Pipeline | CodePipeline


class Runtime(Protocol):
    """One side: `side` names it in reports ("python", "chromium:wasm").

    `precision` is what the runtime stores values in when it is a page ("float32", or
    "float16" for WebGL float16 textures), None for Python, whose float budget is its ops'."""

    side: Side
    precision: str | None

    def open(self) -> None:
        """Make ready (start the browser, the backend's page). Raises BrowserUnavailable or
        BackendUnavailable with the reason when it cannot run here."""
        ...

    def run(
        self, pipeline: AnyPipeline, case: Case, *, timeout: float, repeat: bool = False
    ) -> RuntimeOutput:
        """The whole pipeline, chained, from the case's input: every stage (every layer of a
        model step; every tap of the user's code). `timeout`: seconds each step (or the code
        between two taps) may take. `repeat`: a second pass compared bit for bit
        (out.repeat), where the runtime can. A step that fails ends the run: out.failures."""
        ...

    def run_isolated(
        self, pipeline: Pipeline, case: Case, inputs: RuntimeOutput, *, timeout: float
    ) -> RuntimeOutput | None:
        """Each step alone, fed `inputs`' value of the stage before it (a model's layers fed
        `inputs`' outputs of the layers they read): each stage's own error. None when this
        runtime cannot run steps alone. out.lost_earlier: what an earlier `run` returned can no
        longer be read (its page died); run it again."""
        ...

    def release(self, out: RuntimeOutput) -> None:
        """Drop what the runtime holds for `out` (a page keeps stages until they are read)."""
        ...
