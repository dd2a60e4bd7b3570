"""The Python reference runtime: the catalogue's Python ops, stage by stage, on numpy/TF."""

from __future__ import annotations

import time
import traceback

import numpy as np

from harness.cases import Case
from harness.compare.budget import Terms, exact
from harness.compare.op_terms import step_terms
from harness.pipeline.catalogue import PYTHON_OPS
from harness.pipeline.spec import INPUT_STAGE, Pipeline
from harness.runtimes.base import RuntimeOutput, StageFailure
from harness.runtimes.tf_budgets import model_terms
from harness.runtimes.tf_graph_budgets import graph_terms
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
        except (Exception, SystemExit) as e:  # the op failed (sys.exit in a custom op too)
            failure = StageFailure(
                step.name, f"Python {step.op} failed: {e}", traceback.format_exc()
            )
            return RuntimeOutput(
                stages, {step.name: failure}, {"compute": time.perf_counter() - t0}
            )
        stages[step.name] = x
    return RuntimeOutput(stages, timings={"compute": time.perf_counter() - t0})


def terms(pipeline: Pipeline, case: Case, reference: RuntimeOutput) -> dict[str, Terms]:
    """Each stage's float terms (compare/budget.py), from the reference's own values: what the
    stage's sums add up and how long they are. A model step's layers get theirs by name
    ("<step>/<layer>"), a GraphModel's nodes by theirs."""
    out: dict[str, Terms] = {INPUT_STAGE: exact("the bytes each runtime received")}
    for step, previous in zip(pipeline.steps, pipeline.stage_names, strict=False):
        if previous not in reference.stages or step.name not in reference.stages:
            break
        x, y = reference.stages[previous], reference.stages[step.name]
        settings = step.settings("python", case.params)
        custom = step.custom.python_function if step.custom else None
        out[step.name] = step_terms(step.op, settings, x, y, custom)
        if step.op == "model" and settings["layers"]:
            prefix = f"{step.name}/"
            values = {
                k.removeprefix(prefix): v
                for k, v in reference.stages.items()
                if k.startswith(prefix)
            }
            parts = model_terms if settings["format"] == "layers" else graph_terms
            found = parts(settings["path"], x, values)
            out.update((f"{prefix}{name}", t) for name, t in found.items())
    return out
