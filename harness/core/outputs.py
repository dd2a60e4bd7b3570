"""What every runtime returns: each stage's tensor it reached, and why it stopped if it did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

INPUT_STAGE = "input"  # the stage every run starts with: the bytes each runtime received


@dataclass(frozen=True)
class StageFailure:
    stage: str
    message: str
    stack: str | None = None
    # the harness could not do its part (a page that hung or crashed, a tap it cannot read
    # back): an error of the run, never a class of the user's numbers
    harness: bool = False
    # the last tap the failing side reached, when its taps were lost with it (a page that hung
    # or died): the failure is placed at the tap after it
    after: str | None = None


# A stage larger than this is never held whole by the harness: a page's is compared slice by
# slice as it is pulled, and none gets a float budget or an explanation. Both cost several
# times the stage (float64 arrays of its size; a custom op's budget runs the op five more
# times): a 64 MB stage of a custom op took the harness to 1117 MB, 17x.
STREAM_BYTES = 16 << 20
# The largest stage read back from a page (--max-stage-mb). Measured in Chromium 150 on this
# 2-core machine: a 1024 MB float32 stage runs chained and isolated in 48 s, the harness adding
# 1.04x the stage to its memory.
DEFAULT_MAX_STAGE_MB = 1024.0


@dataclass
class RuntimeOutput:
    # in pipeline order; only the stages that completed (a page's: pulled as they are read)
    stages: Mapping[str, np.ndarray]
    failures: dict[str, StageFailure] = field(default_factory=dict)  # by stage; chained: <= 1
    timings: dict[str, float] = field(default_factory=dict)  # seconds
    # a second pass on the same input: (bitwise identical?, greatest |first - second|)
    repeat: tuple[bool, float] | None = None
    # a stage that is several tensors, by part name, e.g. a model with several outputs
    # ("model" -> {"scores": "model/Identity", "boxes": "model/Identity_1"}) or a case with
    # several named inputs ({"left": "input/left", ...}): it has no array of its own in
    # `stages`, its parts do
    composites: dict[str, dict[str, str]] = field(default_factory=dict)
    # the page hung or died in the repeat pass (the chained pass had finished): the run's
    # error, at the step the repeat pass was on; determinism is then unknown
    repeat_failure: StageFailure | None = None
    # the runtime lost what it held from its earlier calls (a page that hung or died takes the
    # stages of the chained pass with it): the caller runs that pass again to read them
    lost_earlier: bool = False
    # a page used as the reference: the stages (and model layers) it computes as the Python op
    # does (its own error against Python within that op's float budget), where that budget
    # bounds two pages too; None: every stage (the Python reference itself)
    budgeted: frozenset[str] | None = None

    @property
    def failure(self) -> StageFailure | None:
        """The first failure (a chained run stops at it)."""
        return next(iter(self.failures.values()), None)

    def value(self, stage: str) -> np.ndarray | dict[str, np.ndarray] | None:
        """A stage's value: its array, or for a composite stage its parts by part name; None
        when this runtime did not produce it all."""
        if stage in self.stages:
            return self.stages[stage]
        parts = self.composites.get(stage)
        if parts and all(p in self.stages for p in parts.values()):
            return {k: self.stages[p] for k, p in parts.items()}
        return None
