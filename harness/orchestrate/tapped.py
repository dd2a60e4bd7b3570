"""One run of a bring-your-own-code pipeline: the user's Python function and JS module on the
same file, their taps compared by name in Python's tap order (chained only: the harness cannot
feed the user's code mid-way). A tap only one side makes is a failing stage that says so."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from harness.compare.expectations import judge
from harness.compare.gaps import unjudged
from harness.compare.policy import Tolerance
from harness.compare.stages import compare_run
from harness.compare.tolerance import policy
from harness.core.outputs import RuntimeOutput, StageFailure
from harness.core.results import RunResult
from harness.core.timings import Timings
from harness.diagnose.run import diagnose_taps
from harness.orchestrate.keep import TensorKeeper
from harness.orchestrate.options import RunOptions
from harness.runtimes.page_runtime import PageRuntime
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline

END = "(after the last tap)"  # a failure's stage when its side had reached every tap
STACK_LINES = 6


def run(
    options: RunOptions,
    timings: Timings,
    pipeline: CodePipeline,
    case: Case,
    reference: RuntimeOutput,
    candidate: PageRuntime,
    result: RunResult,
    precision: str,
    explain: bool,
    keeper: TensorKeeper | None = None,
) -> RunResult:
    """The user's module on the candidate's page, compared with the reference's taps into
    `result` (Harness.run made it and opened the page). `precision`: the lower of the two
    sides'; `explain`: the reference is Python, so diagnoses may name what differs from it."""
    out = candidate.run(pipeline, case, timeout=options.step_timeout(pipeline.timeout))
    url = candidate.module_url or ""
    try:
        _compare(options, timings, result, pipeline, case, reference, out, precision, url, explain)
        if keeper is not None:  # taps are not steps: nothing is fed a tap, no input kept
            keeper.keep_run(
                (pipeline.name, pipeline.source), case.id, result, reference, out, None, ()
            )
    finally:
        candidate.release(out)
    result.timings = {k: round(v, 4) for k, v in out.timings.items()}
    return result


def _compare(
    options: RunOptions,
    timings: Timings,
    result: RunResult,
    pipeline: CodePipeline,
    case: Case,
    reference: RuntimeOutput,
    candidate: RuntimeOutput,
    precision: str,
    url: str,
    explain: bool,
) -> None:
    order = [*reference.stages, *(n for n in candidate.stages if n not in reference.stages)]
    failures = {
        side: _placed(out.failure, out, order)
        for side, out in (("python", reference), ("js", candidate))
        if out.failure
    }
    # compare_run reads each side's failure by stage: give it the placed ones. The reference is
    # shared by every backend's run, so it gets a copy; the candidate keeps its own object, to
    # which a pull from the page that fails while comparing adds a failure by the stage it read.
    python = RuntimeOutput(reference.stages, {f.stage: f} if (f := failures.get("python")) else {})
    candidate.failures = {f.stage: f} if (f := failures.get("js")) else {}

    def policy_for(tap: str, dtype: np.dtype) -> Tolerance:
        return policy(
            dtype, precision, tap, result.backend, pipeline.tolerance.get(tap), options.overrides,
            options.side.variant,
        )  # fmt: skip

    with timings.phase("compare"):
        stages, _ = compare_run(
            tuple(order + ([END] if any(f.stage == END for f in failures.values()) else [])),
            python,
            candidate,
            policy_for,
            precision=precision,
        )
    other = "Python" if explain else "the reference"
    for stage in stages:
        stage.own_error_class = None  # a tap has no isolated run: its own error is unknown
        one_side = _tapped_by_one_side(stage.name, reference, candidate, failures, other)
        if one_side:
            stage.verdict, stage.message = "fail", one_side
    result.stages = stages
    result.first_divergence = next((s.name for s in stages if s.verdict == "fail"), None)
    if options.hints and explain:
        with timings.phase("hints"):
            diagnose_taps(result, case, reference, candidate)
    if failures:
        served = {url.rsplit("/", 1)[0]: str(pipeline.js_module.parent)} if url else {}
        result.status = "error"
        result.reason = "; ".join(
            f"{f.stage}: {_user_paths(f.message, served)}{_stack(f.stack, served)}"
            for f in failures.values()
        )
    elif problem := unjudged(stages):
        result.status, result.reason = "error", problem
    judge(result, pipeline.expect if explain else {})


def _placed(failure: StageFailure, out: RuntimeOutput, order: list[str]) -> StageFailure:
    """At the first tap (in the comparison's order) the failing side did not reach: after
    the last one it said it reached, when its taps were lost with it."""
    if failure.after in order:
        later = order[order.index(failure.after) + 1 :]
        return dataclasses.replace(failure, stage=later[0] if later else END)
    stage = next((n for n in order if n not in out.stages), END)
    return dataclasses.replace(failure, stage=stage)


def _tapped_by_one_side(
    name: str, reference: RuntimeOutput, candidate: RuntimeOutput, failures: dict, other: str
) -> str | None:
    """A tap one side made and the other (`other`: "Python", or "the reference"), which ran
    to the end, never did."""
    if name == END:
        return None
    in_python, in_js = name in reference.stages, name in candidate.stages
    if in_python and not in_js and "js" not in failures:
        return f"tapped in {other} only: the JS code never calls tap({name!r}, ...)"
    if in_js and not in_python and "python" not in failures:
        code = "Python code" if other == "Python" else "reference's run of the code"
        return f"tapped in JS only: the {code} never calls tap({name!r}, ...)"
    return None


def _stack(stack: str | None, served: dict[str, str]) -> str:
    """The user's innermost frames: a Python traceback's last ones, a JS stack's first ones
    (without the harness page's own frames)."""
    if not stack:
        return ""
    lines = [
        line.rstrip()
        for line in _user_paths(stack, served).splitlines()
        if line.strip().strip("^~")  # not blank, not a column marker line
    ]
    if lines[0].startswith("Traceback"):
        frames = lines[1:-1][-STACK_LINES:]
    else:
        frames = [f for f in lines[1:] if not re.search(r"/code\.js:|/page\.js:|<anonymous>", f)]
        frames = frames[:STACK_LINES]
    return "".join(f"\n    {line.strip()}" for line in frames)


def _user_paths(text: str, served: dict[str, str]) -> str:
    """Served URLs of the user's files turned back into their paths."""
    text = re.sub(r"https?://127\.0\.0\.1:\d+", "", text)
    for url, folder in served.items():
        text = text.replace(url, folder)
    return text
