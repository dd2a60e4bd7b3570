"""First divergence from own (isolated) errors, and the determinism spread: pure logic."""

import numpy as np

from harness.compare.stages import compare_run, default_policies
from harness.runtimes.base import RuntimeOutput, StageFailure

STAGES = ("input", "a", "b", "c")


def output(**stages: list[float]) -> RuntimeOutput:
    return RuntimeOutput({k: np.array(v, np.float32) for k, v in stages.items()})


REFERENCE = output(input=[1, 2], a=[2, 4], b=[3, 5], c=[6, 10])


def test_first_divergence_is_the_first_stage_whose_own_error_fails():
    chained = output(input=[1, 2], a=[2, 4], b=[3, 6], c=[6, 12])  # b goes wrong, c inherits it
    isolated = output(a=[2, 4], b=[3, 6], c=[6, 10])  # c alone is right
    stages, first = compare_run(STAGES, REFERENCE, chained, default_policies("float32"), isolated)
    assert first == "b"
    by = {s.name: s for s in stages}
    assert (by["c"].verdict, by["c"].own_verdict) == ("fail", "pass")
    assert by["c"].isolated["max_abs"] == 0 and by["c"].chained["max_abs"] == 2


def test_without_isolated_results_the_chained_verdict_decides():
    chained = output(input=[1, 2], a=[2, 4], b=[3, 6], c=[6, 12])
    stages, first = compare_run(STAGES, REFERENCE, chained, default_policies("float32"))
    assert first == "b"
    assert all(s.isolated is None for s in stages[1:])


def test_an_isolated_failure_makes_the_stage_fail_on_its_own():
    chained = output(input=[1, 2], a=[2, 4], b=[3, 5], c=[6, 10])
    isolated = RuntimeOutput(
        {"a": np.array([2, 4], np.float32), "c": np.array([6, 10], np.float32)},
        {"b": StageFailure("b", "JS exception: boom")},
    )
    stages, first = compare_run(STAGES, REFERENCE, chained, default_policies("float32"), isolated)
    assert first == "b"
    assert stages[2].isolated_message == "isolated run failed: JS exception: boom"
