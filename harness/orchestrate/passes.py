"""A candidate's passes over a step pipeline: chained (twice, for determinism), then each step
alone on the reference's inputs, and the chained pass again when a later pass lost it."""

from __future__ import annotations

from harness.core.outputs import RuntimeOutput
from harness.orchestrate.options import RunOptions
from harness.runtimes.runtime import Runtime
from harness.specs.cases import Case
from harness.specs.spec import Pipeline


def candidate_passes(
    candidate: Runtime,
    pipeline: Pipeline,
    case: Case,
    reference: RuntimeOutput,
    options: RunOptions,
) -> tuple[RuntimeOutput, RuntimeOutput | None]:
    """(chained, isolated): the chained pass (with its repeat when `options.repeat`), and,
    when `options.isolated` and the chained pass did not fail, the isolated pass fed
    `reference`. `candidate` is open. A hang or crash in a later pass (repeat, isolated)
    loses the chained stages the runtime held: the chained pass runs once more, without its
    repeat, on a freshly opened runtime, keeping what was learnt of the repeat pass; the
    isolated pass's error stays with its step."""
    limit = options.step_timeout(pipeline.timeout)

    def chained_again(before: RuntimeOutput) -> RuntimeOutput:
        candidate.open()
        out = candidate.run(pipeline, case, timeout=limit)
        out.repeat, out.repeat_failure = before.repeat, before.repeat_failure
        return out

    chained = candidate.run(pipeline, case, timeout=limit, repeat=options.repeat)
    if chained.repeat_failure is not None:
        chained = chained_again(chained)
    isolated = None
    if options.isolated and not chained.failures:
        isolated = candidate.run_isolated(pipeline, case, reference, timeout=limit)
        if isolated is not None and isolated.lost_earlier:
            chained = chained_again(chained)
    return chained, isolated
