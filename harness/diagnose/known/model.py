"""What an explanation reads (Seen: a stage's arrays and facts), what an entry finds (Found),
and an entry of the catalogue (Known): data, with the test of its evidence beside it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

F16_MAX = 65504.0  # the largest finite float16
F16_TINY = 2.0**-14  # the smallest normal float16; below it float16 has 10 bits fewer or none
EXACT_F32 = 2**24  # integers above it are not all float32 values
# tensors smaller than this, whose inputs are still on the CPU, are computed by the CPU kernels
# (WEBGL_CPU_FORWARD / WEBGPU_CPU_FORWARD): CPU_HANDOFF_SIZE_THRESHOLD in tfjs-backend-webgl's
# flags, WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD in tfjs-backend-webgpu's (TF.js 4.22)
CPU_HANDOFF = {"webgl": 128, "webgpu": 1000}
GRIDS = {  # (align_corners, half_pixel_centers) -> its name in TF's and TF.js's terms
    (False, True): "half-pixel",
    (False, False): "legacy (TF1, TF.js's default)",
    (True, False): "align-corners",
}


@dataclass(frozen=True)
class LayerFacts:
    """A Keras layer as the Python side holds it: class name, `get_config()`, and weights by
    their short names (gamma, beta, moving_mean, moving_variance, kernel, bias)."""

    kind: str
    config: Mapping[str, Any]
    weights: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Seen:
    """What the harness knows of one divergent stage.

    `kind`: step (a catalogue op), custom (the user's op), tap (the user's code), layer (a Keras
    layer), node (a graph model's node). `op`: the catalogue op, the custom op's name, the layer
    class or the node's op. `backend`: the variant, e.g. "webgl:f16". `reference` and
    `candidate`: Python's and the JS output (the stage's own run where there is one). `inputs`:
    Python's values of the stage's inputs, when known (a tap's: the tap before it, which may be
    no input of it; evidence checks shapes and relations, so a wrong guess finds nothing).
    `file`: the case's bytes, for stages decoded from it. `layer`: the Keras layer, for layers.
    `differing`: settings the pipeline file gives the two sides differently, (python, js).
    `rerun`: Python's op of a step run again with some settings replaced.
    """

    stage: str
    kind: str
    op: str | None
    backend: str
    reference: np.ndarray
    candidate: np.ndarray
    inputs: tuple[np.ndarray, ...] = ()
    file: bytes | None = None
    layer: LayerFacts | None = None
    differing: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    # a step's Python op re-run on its input with some settings replaced (None: not a step)
    rerun: Callable[[Mapping[str, Any]], np.ndarray] | None = None

    @property
    def base(self) -> str:
        return self.backend.split(":")[0]

    @property
    def x(self) -> np.ndarray | None:
        return self.inputs[0] if self.inputs else None


@dataclass(frozen=True)
class Found:
    """What an entry's evidence saw, and the fixes for this very stage where they depend on
    it (the grid found, argMax or argMin, the backend); None: the entry's general fixes."""

    evidence: str
    fix_python: str | None = None
    fix_js: str | None = None


Evidence = Callable[[Seen], "str | Found | None"]


@dataclass(frozen=True)
class Known:
    """One mechanism. `ops`: op, layer or node names it concerns (empty: any; the evidence
    decides); `backends`: the backends where it happens (empty: any); `kinds`: stage kinds.
    `fix_python` / `fix_js`: what to write on each side, in the calls the user writes."""

    id: str
    title: str
    kinds: frozenset[str]
    ops: frozenset[str]
    backends: frozenset[str]
    dtypes: str  # numpy kinds of the JS output it concerns ("f", "iu", "b"; "" any)
    evidence: Evidence
    checks: str  # what the evidence tests, in words (for the docs)
    why: str
    fix_python: str
    fix_js: str
    source: str
    # False: the arrays alone cannot tell this mechanism from a user's own code doing the same
    # (a clip that returns its input): in a tap or custom op the hint is conditional on the op
    proven_by_arrays: bool = True
    condition: str = ""  # what the user's code must do for it to apply, when not proven
    said_as: str = "known divergence"  # the hint's `source`

    def matches(self, seen: Seen) -> bool:
        if self.kinds and seen.kind not in self.kinds:
            return False
        if self.backends and seen.base not in self.backends:
            return False
        if self.dtypes and np.asarray(seen.candidate).dtype.kind not in self.dtypes:
            return False
        if self.ops and seen.kind in ("step", "layer", "node"):
            return (seen.op or "").lower() in {o.lower() for o in self.ops}
        return True  # the user's own code: only the evidence can tell

    def hint(self, found: str | Found, kind: str = "step") -> dict[str, Any]:
        found = found if isinstance(found, Found) else Found(found)
        python = found.fix_python or self.fix_python
        js = found.fix_js or self.fix_js
        conditional = not self.proven_by_arrays and kind in ("tap", "custom")
        title = f"if {self.condition}: {self.title}" if conditional else self.title
        return {
            "text": (
                f"{title}: {found.evidence}. {self.why} Fix in Python: {python} "
                f"In TF.js: {js} (source: {self.source})"
            ),
            "conditional": conditional,
            "source": self.said_as,
            "id": self.id,
            "evidence": found.evidence,
            "fix": {"python": python, "js": js},
            "reference": self.source,
            "reproduces": None,
        }
