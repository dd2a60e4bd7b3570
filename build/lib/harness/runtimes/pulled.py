"""A page call's stages, pulled from the page a batch at a time as the comparison asks for them.

The page keeps every stage it computed (every layer of a model, too) until the call is
released; the harness asks for the next batch (up to BATCH_BYTES) when the comparison reaches a
stage it does not have, and hands each array over to the comparison without keeping it. So the
harness holds about one batch per page, not a whole run's layers, let alone every backend's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from harness.runtimes.driver import Page, PageError
from harness.server import ParityServer

BATCH_BYTES = 8 << 20

OnError = Callable[[str, str], None]  # (stage, message): the stage could not be pulled


class PulledStages(Mapping[str, np.ndarray]):
    """Read-only mapping stage -> array over what the page holds for `run_id`.

    An array is given away when read: reading it again pulls it again (the page keeps it until
    `release`). A pull that fails (page gone, upload refused) is reported once through
    `on_error`, and every stage not yet pulled then reads as missing."""

    def __init__(
        self,
        page: Page,
        server: ParityServer,
        run_id: str,
        described: list[dict[str, Any]],
        on_error: OnError,
        timeout: float = 120.0,
    ) -> None:
        self._page = page
        self._server = server
        self._run_id = run_id
        self._names = [d["name"] for d in described]
        self._nbytes = {d["name"]: int(d["nbytes"]) for d in described}
        self._on_error = on_error
        self._timeout = timeout
        self._buffer: dict[str, np.ndarray] = {}
        self._pulled: set[str] = set()
        self._broken = False
        self.seconds = 0.0  # time spent pulling, for the report's transfer phase
        self.peak_bytes = 0  # the most this mapping held at once

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._nbytes or self._broken:
            raise KeyError(name)
        if name not in self._buffer:
            self._pull(self._batch_from(name))
        if name not in self._buffer:
            raise KeyError(name)
        return self._buffer.pop(name)

    def __contains__(self, name: object) -> bool:
        return name in self._nbytes

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def release(self) -> None:
        """Let the page drop what it holds for this call (best effort: a dead page holds
        nothing)."""
        self._buffer.clear()
        with contextlib.suppress(PageError):
            self._page.evaluate("a => window.parity.release(a)", {"runId": self._run_id}, 10)

    def _batch_from(self, name: str) -> list[str]:
        """`name`, then the stages after it not pulled yet, up to BATCH_BYTES."""
        if name in self._pulled:  # read again: just that one
            return [name]
        batch, size = [], 0
        for n in self._names[self._names.index(name) :]:
            if n in self._pulled or (batch and size + self._nbytes[n] > BATCH_BYTES):
                break
            batch.append(n)
            size += self._nbytes[n]
        return batch

    def _pull(self, names: list[str]) -> None:
        t0 = time.perf_counter()
        try:
            self._page.evaluate(
                "a => window.parity.send(a)",
                {"runId": self._run_id, "names": names},
                self._timeout,
            )
            for n in names:
                item = self._server.uploads.take(f"{self._run_id}/{n}")
                if item is not None:
                    self._buffer[n] = item.to_numpy()
                    self._pulled.add(n)
        except PageError as e:
            self._server.uploads.discard_prefix(f"{self._run_id}/")
            self._broken = True
            self._on_error(names[0], f"could not fetch the stage from the page: {e}")
        finally:
            self.seconds += time.perf_counter() - t0
        self.peak_bytes = max(self.peak_bytes, sum(a.nbytes for a in self._buffer.values()))
