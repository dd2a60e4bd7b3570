"""The Python reference runtime: the catalogue's Python ops, stage by stage, on numpy/TF."""

from __future__ import annotations

import contextlib
import functools
import time
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.compare.budget import Terms, exact
from harness.core.outputs import STREAM_BYTES, RuntimeOutput, StageFailure
from harness.ops.catalogue import PYTHON_OPS
from harness.ops.op_terms import step_terms
from harness.ops.tf_models import ModelInput, model_layers, model_signature
from harness.runtimes.bounded import PythonTimeout, bounded, ends_user_run
from harness.runtimes.tf_budgets import model_terms
from harness.runtimes.tf_graph_budgets import graph_terms
from harness.specs.cases import Case
from harness.specs.spec import INPUT_STAGE, Pipeline


def run(pipeline: Pipeline, case: Case, timeout: float | None = None) -> RuntimeOutput:
    """Every stage's output, in order; stops at the first failing step and says why.

    A case with several named inputs has stages "input/<name>" (a composite "input"); a model
    step has a stage per compared layer or node ("<step>/<layer>"), and its output as the
    step's stage, or with several outputs a composite of its output nodes' stages."""
    x: ModelInput | None = pipeline.input_of(case)
    composites: dict[str, dict[str, str]] = {}
    if isinstance(x, Mapping):
        composites[INPUT_STAGE] = {k: f"{INPUT_STAGE}/{k}" for k in x}
        stages = {f"{INPUT_STAGE}/{k}": v for k, v in x.items()}
    else:
        stages = {INPUT_STAGE: x}
    previous = INPUT_STAGE
    t0 = time.perf_counter()
    for step in pipeline.steps:
        try:
            settings = step.settings("python", case.params)
            if x is None or (isinstance(x, Mapping) and step.op != "model"):
                raise ValueError(several_tensors(previous, composites[previous], step.name))
            if step.op == "model":  # every layer is a stage: "<step>/<layer>"
                outs = model_layers(x, **settings)
                outputs = model_signature(settings["path"], settings["format"]).outputs
                parts = outs if settings["layers"] or len(outputs) > 1 else {}
                stages.update({f"{step.name}/{k}": v for k, v in parts.items()})
                if len(outputs) > 1:
                    composites[step.name] = {p.name: f"{step.name}/{p.node}" for p in outputs}
                    x, previous = None, step.name
                    continue
                x = outs[outputs[0].node]
            elif step.custom is not None:
                call = functools.partial(step.custom.python_function, x, **settings)
                what = f"step {step.name!r} (python op {step.op!r})"
                value = call() if timeout is None else bounded(call, timeout, lambda w=what: w)
                x = op_output(value, step.name, step.op)
            else:
                x = np.asarray(PYTHON_OPS[step.op](x, **settings))
        except BaseException as e:  # the op failed (sys.exit, CancelledError... in a custom op)
            if not ends_user_run(e):
                raise
            plain = isinstance(e, OpOutputError | PythonTimeout)
            said = str(e) if plain else f"Python {step.op} failed: {e}"
            # a step past its time limit, or whose output cannot be compared, has no numbers
            # to judge: an error, not a failed stage
            failure = StageFailure(step.name, said, traceback.format_exc(), harness=plain)
            return RuntimeOutput(
                stages,
                {step.name: failure},
                {"compute": time.perf_counter() - t0},
                composites=composites,
            )
        stages[step.name] = x
        previous = step.name
    return RuntimeOutput(
        stages, timings={"compute": time.perf_counter() - t0}, composites=composites
    )


INT32 = np.iinfo(np.int32)


class OpOutputError(ValueError):
    """A user's Python op gave back something the page cannot be compared with."""


def op_output(value: Any, step: str, op: str) -> np.ndarray:
    """What a user's Python op returned, as an array the page can be compared with and fed:
    a numpy array or scalar, or a TF tensor (anything with .numpy()), of a bool, integer or
    float dtype; integers within int32 (TF.js's widest). Raises OpOutputError naming the step,
    the side and what came back."""
    where = f"step {step!r} (python op {op!r}) returned"
    if value is None:
        raise OpOutputError(f"{where} None: an op returns its output (a numpy array or tensor)")
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    if not isinstance(value, np.ndarray | np.generic | int | float | bool | list | tuple):
        raise OpOutputError(
            f"{where} a {type(value).__name__}: an op returns a numpy array or a TF tensor"
        )
    try:
        a = np.asarray(value)
    except ValueError as e:  # ragged lists
        raise OpOutputError(f"{where} a {type(value).__name__} that is no array ({e})") from None
    if a.dtype.kind not in "biuf":
        raise OpOutputError(
            f"{where} {a.dtype} values: TF.js holds float32, int32 and bool only, so they cannot "
            "be compared (return real numbers)"
        )
    if a.dtype.kind == "f" and a.dtype.itemsize > 8:
        raise OpOutputError(
            f"{where} {a.dtype} values: the page is fed float32 and the comparison reads at "
            "most float64 (return float64 or float32)"
        )
    if a.dtype.kind in "iu" and a.size and (a.min() < INT32.min or a.max() > INT32.max):
        worst = int(a.max()) if a.max() > INT32.max else int(a.min())
        raise OpOutputError(
            f"{where} {a.dtype} values outside int32 (e.g. {worst}): TF.js has no int64, so the "
            "page can neither hold them nor be fed them; cast or rescale on the Python side"
        )
    return a


def several_tensors(stage: str, parts: Mapping[str, str], step: str) -> str:
    """Why a step cannot follow a stage that is several tensors."""
    names = ", ".join(parts)
    return (
        f"{stage!r} is {len(parts)} tensors ({names}) and step {step!r} takes one: a model with "
        "several outputs must be the pipeline's last step, several inputs feed only a model"
    )


class _Abandoned(BaseException):
    """A custom op's re-run for its budget took longer than the step's limit, or raised what
    is no Exception (sys.exit(), CancelledError...): no budget (a BaseException, so the
    budget's own `except Exception` fallbacks do not swallow it)."""


def _bounded_op(function: Any, timeout: float | None, what: str) -> Any:
    """The custom op as the budget re-runs it, each call within the step's limit."""

    def run(x: Any, **settings: Any) -> Any:
        try:
            if timeout is None:
                return function(x, **settings)
            return bounded(lambda: function(x, **settings), timeout, lambda: what)
        except PythonTimeout:
            raise _Abandoned() from None
        except Exception:  # the budget's own fallbacks take these
            raise
        except BaseException as e:  # sys.exit(), CancelledError... in a re-run: no budget
            if ends_user_run(e):
                raise _Abandoned() from None
            raise

    return run


def terms(
    pipeline: Pipeline, case: Case, reference: RuntimeOutput, timeout: float | None = None
) -> dict[str, Terms]:
    """Each stage's float terms (compare/budget.py), from the reference's own values: what the
    stage's sums add up and how long they are. A model step's layers get theirs by name
    ("<step>/<layer>"), a GraphModel's nodes by theirs.

    A stage larger than STREAM_BYTES gets none (its tolerance policy judges it): its terms are
    float64 arrays of its size, and a custom op's are found by running the op five more times,
    which would cost several times the stage's memory that the harness does not hold. A custom
    op's five re-runs are each bounded by `timeout` (the step's limit): past it, the stage
    gets no budget either."""
    out: dict[str, Terms] = {INPUT_STAGE: exact("the bytes each runtime received")}
    named = reference.composites.get(INPUT_STAGE, {})
    out.update((p, exact("the bytes each runtime received")) for p in named.values())
    for step, previous in zip(pipeline.steps, pipeline.stage_names, strict=False):
        x = reference.value(previous)
        if x is None or step.name not in {*reference.stages, *reference.composites}:
            break
        settings = step.settings("python", case.params)
        if step.name in reference.stages:
            y = reference.stages[step.name]
            if y.nbytes > STREAM_BYTES or _nbytes(x) > STREAM_BYTES:
                continue
            custom = None
            if step.custom:
                what = f"step {step.name!r} (python op {step.op!r}) re-run for its budget"
                custom = _bounded_op(step.custom.python_function, timeout, what)
            with contextlib.suppress(_Abandoned):  # no budget: its tolerance policy judges it
                out[step.name] = step_terms(step.op, settings, x, y, custom)
        if step.op == "model" and (settings["layers"] or step.name in reference.composites):
            prefix = f"{step.name}/"
            values = {
                k.removeprefix(prefix): v
                for k, v in reference.stages.items()
                if k.startswith(prefix) and v.nbytes <= STREAM_BYTES
            }
            parts = model_terms if settings["format"] == "layers" else graph_terms
            found = parts(settings["path"], x, values)
            out.update((f"{prefix}{name}", t) for name, t in found.items())
    return out


def _nbytes(x: np.ndarray | Mapping[str, np.ndarray]) -> int:
    return sum(v.nbytes for v in x.values()) if isinstance(x, Mapping) else x.nbytes
