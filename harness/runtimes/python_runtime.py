"""The live Python reference as a runtime: TF and numpy run the pipeline's steps, or the
user's Python function with its taps."""

from __future__ import annotations

from harness.compare.budget import Terms
from harness.core.outputs import RuntimeOutput
from harness.runtimes import python_ref, user_python
from harness.runtimes.runtime import AnyPipeline
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline
from harness.specs.spec import Pipeline
from harness.specs.variants import Side


class PythonRuntime:
    """Steps run through the op catalogue (float64 where numpy computes, float32 where TF
    does); a code pipeline's taps come from the user's function. No isolated runs: Python's
    outputs are what the other side's steps are fed."""

    side = Side(None, None)
    precision: str | None = None

    def open(self) -> None:
        """Nothing to start: TensorFlow is imported on first use."""

    def run(
        self, pipeline: AnyPipeline, case: Case, *, timeout: float, repeat: bool = False
    ) -> RuntimeOutput:
        if isinstance(pipeline, CodePipeline):
            return user_python.run(pipeline, case, timeout)
        return python_ref.run(pipeline, case, timeout)

    def run_isolated(
        self, pipeline: Pipeline, case: Case, inputs: RuntimeOutput, *, timeout: float
    ) -> RuntimeOutput | None:
        return None

    def release(self, out: RuntimeOutput) -> None:
        """Python's arrays are plain numpy: nothing is held elsewhere."""

    def terms(
        self, pipeline: Pipeline, case: Case, reference: RuntimeOutput, *, timeout: float
    ) -> dict[str, Terms]:
        """Per stage (and model layer), its float terms, from which its own error's float
        budget comes (compare/budget.py); `reference` is this runtime's `run` of the case."""
        return python_ref.terms(pipeline, case, reference, timeout)
