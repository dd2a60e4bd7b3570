"""The session's reference outputs, computed once per content and kept while they fit."""

from __future__ import annotations

import collections
import hashlib
import json
import threading
from collections.abc import Callable

import numpy as np

from harness.compare.budget import Terms
from harness.core import paths, tf_runtime
from harness.core.outputs import RuntimeOutput
from harness.core.timings import Timings
from harness.specs.cases import Case
from harness.specs.code_pipeline import CustomOp
from harness.specs.spec import Pipeline

MB = 1 << 20


class References:
    """Reference outputs by content key, least recently used dropped first once they pass
    TFJS_PARITY_REFERENCE_CACHE_MB (a model's every layer for every case would otherwise pile
    up over a long suite); each one's float terms are kept while it is. Thread-safe. Raises
    ValueError on a bad cache setting."""

    def __init__(self, timings: Timings) -> None:
        self.timings = timings
        self._mb = paths.reference_cache_mb()
        self._outputs: collections.OrderedDict[str, RuntimeOutput] = collections.OrderedDict()
        self._terms: dict[str, dict[str, Terms]] = {}
        self._lock = threading.Lock()

    def get(
        self, key: str, compute: Callable[[], RuntimeOutput], phase: str = "python_reference"
    ) -> RuntimeOutput:
        """`compute()` once per key, timed as `phase`; the first TensorFlow import is timed
        apart."""
        with self._lock:
            if key in self._outputs:
                self._outputs.move_to_end(key)
                return self._outputs[key]
        importing = not tf_runtime.loaded()
        with self.timings.phase(phase):
            reference = compute()
        if importing and tf_runtime.loaded():
            # report the import separately: it is the single largest fixed cost
            self.timings.add(phase, -tf_runtime.import_seconds)
            self.timings.add("tf_import", tf_runtime.import_seconds)
        with self._lock:
            self._outputs[key] = reference
            while len(self._outputs) > 1 and _nbytes(self._outputs) > self._mb * MB:
                dropped, _ = self._outputs.popitem(last=False)
                self._terms.pop(dropped, None)
        return reference

    def terms(self, key: str, compute: Callable[[], dict[str, Terms]]) -> dict[str, Terms]:
        """`compute()` once per key, kept only while the key's reference is."""
        with self._lock:
            if key in self._terms:
                return self._terms[key]
        with self.timings.phase("budgets"):
            terms = compute()
        with self._lock:
            if key in self._outputs:
                self._terms[key] = terms
        return terms


def _nbytes(outputs: collections.OrderedDict[str, RuntimeOutput]) -> int:
    return sum(a.nbytes for r in outputs.values() for a in r.stages.values())


def reference_key(pipeline: Pipeline, case: Case) -> str:
    """Content, not names: two pipelines called alike, or two files called scan.dcm, differ."""
    h = hashlib.sha256()
    steps = [(s.name, s.op, s.python, s.custom and _identity(s.custom)) for s in pipeline.steps]
    h.update(json.dumps([steps, case.params], sort_keys=True, default=str).encode())
    start = pipeline.input_of(case)
    for name, a in sorted(start.items()) if isinstance(start, dict) else [("", start)]:
        h.update(str((name, a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _identity(op: CustomOp) -> str:
    """A user's op's Python function by what it is (its file, content and name, as the
    pipeline file was read), or for an op built in code the function itself."""
    return op.python_identity or repr(op.python_function)
