"""What a session was asked to do, the same for every run in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.compare.tolerance import Override
from harness.core.outputs import DEFAULT_MAX_STAGE_MB
from harness.specs.variants import PYTHON, Side, parse_reference

DEFAULT_TIMEOUT = 120.0  # seconds a step may take on each side, unless told otherwise


@dataclass(frozen=True)
class RunOptions:
    """`isolated`: also run each candidate stage on the reference's input to it (own vs
    inherited error); `repeat`: run each chained run twice and report whether the two are
    bitwise identical; `overrides`: tolerance overrides from the command line; `hints`: for
    stages that differ in semantics, search the Python op's settings for the one TF.js
    matches; `min_coverage`: the share of each model's layers or nodes a run must compare
    (0..1), over the pipeline's own; `timeout`: seconds each step (or the code between two
    taps) may take on each side, over the pipeline's own (default DEFAULT_TIMEOUT);
    `max_stage_mb`: the largest stage read back from a page, a larger one is an error of its
    stage; `reference`: what every candidate is compared with, "python" (the default plan)
    or a page such as "wasm" or "chromium:webgl:f16" (backend vs backend); `references`: a
    recorded store (golden/store.py) to read the Python side from instead of running it
    (hints and diagnoses, which re-run Python's ops, are then off); `update_references`: a
    missing or stale record is computed live and written over (ReferenceSide.rerecorded says
    which)."""

    isolated: bool = True
    repeat: bool = True
    overrides: Sequence[Override] = ()
    hints: bool = True
    min_coverage: float | None = None
    timeout: float | None = None
    max_stage_mb: float = DEFAULT_MAX_STAGE_MB
    reference: str = PYTHON
    references: Path | None = None
    update_references: bool = False
    side: Side = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.max_stage_mb < float("inf"):
            raise ValueError(f"max_stage_mb {self.max_stage_mb!r}: a number of megabytes > 0")
        object.__setattr__(self, "overrides", tuple(self.overrides))
        object.__setattr__(self, "side", parse_reference(self.reference))
        if self.update_references and self.references is None:
            raise ValueError("updating references needs the store to update (--references DIR)")

    def step_timeout(self, pipeline_timeout: float | None) -> float:
        """Seconds each step (or the code between two taps) may take on each side."""
        if self.timeout is not None:
            return self.timeout
        return pipeline_timeout if pipeline_timeout is not None else DEFAULT_TIMEOUT
