"""The Python reference runtime: the catalogue's Python ops, stage by stage, on numpy/TF."""

from __future__ import annotations

import time
import traceback

import numpy as np

from harness.cases import Case
from harness.pipeline.catalogue import PYTHON_OPS
from harness.pipeline.spec import INPUT_STAGE, Pipeline
from harness.runtimes.base import RuntimeOutput, StageFailure
from harness.runtimes.tf_models import model_layers


def run(pipeline: Pipeline, case: Case) -> RuntimeOutput:
    """Every stage's output, in order; stops at the first failing step and says why."""
    x = pipeline.input_of(case)
    stages: dict[str, np.ndarray] = {INPUT_STAGE: x}
    t0 = time.perf_counter()
    for step in pipeline.steps:
        try:
            settings = step.settings("python", case.params)
            if step.op == "model":  # every layer is a stage: "<step>/<layer>"
                outs = model_layers(x, **settings)
                stages.update({f"{step.name}/{k}": v for k, v in outs.items()})
                x = list(outs.values())[-1]
            else:
                op = step.custom.python_function if step.custom else PYTHON_OPS[step.op]
                x = np.asarray(op(x, **settings))
        except Exception as e:  # the user's settings or data made the op fail: keep what we have
            failure = StageFailure(
                step.name, f"Python {step.op} failed: {e}", traceback.format_exc()
            )
            return RuntimeOutput(
                stages, {step.name: failure}, {"compute": time.perf_counter() - t0}
            )
        stages[step.name] = x
    return RuntimeOutput(stages, timings={"compute": time.perf_counter() - t0})
