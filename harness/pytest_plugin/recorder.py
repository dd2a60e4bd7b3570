"""`--parity-record DIR`: the parity tests run the Python side only and write each (pipeline,
case) they reach to a reference store (golden/store.py), once per session; no browser starts
and nothing is compared, so each test is skipped, saying where it recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.core.results import RunResult
    from harness.orchestrate.orchestrator import Harness
    from harness.specs.cases import Case
    from harness.specs.code_pipeline import CodePipeline
    from harness.specs.spec import Pipeline

RECORDED = "recorded (--parity-record) into "
_DONE = pytest.StashKey[dict[tuple[str, str], str]]()  # (pipeline, key) -> what was done


def recorded_run(
    config: pytest.Config,
    harness: Harness,
    pipeline: Pipeline | CodePipeline,
    case: Case,
    browser: str,
    backend: str,
) -> RunResult | None:
    """With --parity-record: the record of (pipeline, case) written (once per session, whatever
    the number of backends), as a skipped run that says where, or as an error run saying why
    it could not be; None without the option."""
    from harness.core.results import RunResult
    from harness.orchestrate import recording
    from harness.specs.params import PipelineSpecError

    store = config.getoption("parity_record")
    if store is None:
        return None
    from harness.golden.keys import reference_key

    done = config.stash.setdefault(_DONE, {})
    key = (pipeline.name, reference_key(pipeline, case))  # by content: alike names, two records
    if key not in done:
        try:
            limit = harness.step_timeout(pipeline)
            computed = recording.compute(harness.side.python, pipeline, case, limit)
            done[key] = f"{RECORDED}{recording.write(store, pipeline, case, computed)}"
        except (recording.NotRecorded, PipelineSpecError) as e:
            done[key] = f"not recorded: {e}"
    status = "skipped" if done[key].startswith(RECORDED) else "error"
    return RunResult(browser, backend, status, reason=done[key])


def is_recorded(run: RunResult) -> bool:
    return run.status == "skipped" and (run.reason or "").startswith(RECORDED)
