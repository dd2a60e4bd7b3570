"""The session's reference outputs, computed once per content and kept while they fit."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from harness.compare.budget import Terms
from harness.core import paths, tf_runtime
from harness.core.outputs import RuntimeOutput
from harness.core.timings import Timings
from harness.golden.keys import reference_key

MB = 1 << 20

__all__ = ["MB", "References", "reference_key"]


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
