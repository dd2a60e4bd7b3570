"""Cases as a test gives them to parity_check and parity_run: paths turned into cases named as
a pipeline file's are."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.specs.cases import Case, CaseSource
    from harness.specs.code_pipeline import CodePipeline
    from harness.specs.spec import Pipeline


def with_ids(
    pipeline: Pipeline | CodePipeline, given: Sequence[str | Path | Case]
) -> list[str | Case | CaseSource]:
    """Cases given as file paths become case sources named as a pipeline file's cases are: by their
    path relative to the folder the files share (cats/001.dcm and dogs/001.dcm stay two
    cases); two that come to one id are refused by name."""
    from harness.specs import cases

    paths = [Path(c).absolute() for c in given if isinstance(c, str | Path) and Path(c).is_file()]
    twice = sorted({str(p) for p in paths if paths.count(p) > 1})
    if twice:
        raise pytest.UsageError(f"parity_check: a case given twice: {', '.join(twice)}")
    ids = dict(zip(paths, cases.case_ids([(p, None) for p in paths]), strict=True))
    seen: dict[str, Path] = {}
    for path, case_id in ids.items():
        if case_id in seen:
            raise pytest.UsageError(
                f"parity_check: cases {seen[case_id]} and {path} are both {case_id!r}"
            )
        seen[case_id] = path
    out: list[str | Case | CaseSource] = []
    for c in given:
        if isinstance(c, str | Path) and Path(c).is_file():
            path = Path(c).absolute()
            try:  # loaded by parity_check: a file that cannot load is that case's error
                out.append(cases.source_for(path, ids[path], as_file=decodes_itself(pipeline)))
            except cases.CaseListError as e:
                raise pytest.UsageError(f"parity_check: {e}") from None
        else:
            out.append(c)
    return out


def case_id(case: str | Path | Case) -> str:
    from harness.specs.cases import Case

    return case.id if isinstance(case, Case) else Path(case).name


def decodes_itself(pipeline: Pipeline | CodePipeline) -> bool:
    """The pipeline reads the file (user code, or a decode step): a path is the file as is."""
    from harness.specs.code_pipeline import CodePipeline

    return isinstance(pipeline, CodePipeline) or pipeline.steps[0].op == "decode"


def load_pipeline(
    config: pytest.Config, pipeline: str | Path | Pipeline | CodePipeline
) -> Pipeline | CodePipeline:
    """A bundled name or a pipeline file, read (without importing the user's Python code when
    recorded references are replayed); a parsed pipeline as it is."""
    if not isinstance(pipeline, str | Path):
        return pipeline
    import contextlib

    from harness.orchestrate.suite import bundled_pipeline
    from harness.pytest_plugin.options import replaying
    from harness.specs.code_pipeline import without_user_python

    with without_user_python() if replaying(config) else contextlib.nullcontext():
        return bundled_pipeline(pipeline)
