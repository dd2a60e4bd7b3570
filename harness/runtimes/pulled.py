"""A page call's stages, pulled from the page a batch at a time as the comparison asks for them.

The page keeps every stage it computed (every layer of a model, too) until the call is
released; the harness asks for the next batch (up to BATCH_BYTES) when the comparison reaches a
stage it does not have, and hands each array over to the comparison without keeping it. So the
harness holds about one batch per page, not a whole run's layers, let alone every backend's.

A stage larger than STREAM_BYTES is not pulled whole: it reads as a StreamedStage, whose slices
(SLICE_BYTES each) are pulled as the comparison reads them, so the harness never holds it. A
stage larger than the run's cap (--max-stage-mb) is not pulled at all: it is an error naming its
shape and the cap.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from harness.compare.metrics import BlockReadError
from harness.core.outputs import DEFAULT_MAX_STAGE_MB, STREAM_BYTES
from harness.core.tensors import WIRE_DTYPES
from harness.runtimes.driver import Page, PageError
from harness.runtimes.server import ParityServer

BATCH_BYTES = 8 << 20
SLICE_BYTES = 16 << 20

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
        max_stage_mb: float = DEFAULT_MAX_STAGE_MB,
    ) -> None:
        self._page = page
        self._server = server
        self._run_id = run_id
        self._names = [d["name"] for d in described]
        self._nbytes = {d["name"]: int(d["nbytes"]) for d in described}
        self._described = {d["name"]: d for d in described}
        # sent by the page as its steps ended (run's first stages): waiting in the upload store
        self._sent = {d["name"] for d in described if d.get("sent")}
        self._max_bytes = max_stage_mb * (1 << 20)
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
        size = self._nbytes[name]
        if size > self._max_bytes:
            d = self._described[name]
            cap = self._max_bytes
            self._on_error(
                name,
                f"js {d['dtype']} {list(d['shape'])}, {size / (1 << 20):.1f} MB ({size} bytes), is "
                f"over the cap of {cap / (1 << 20):g} MB ({int(cap)} bytes) per stage "
                "(--max-stage-mb): not read back",
            )
            raise KeyError(name)
        if size > STREAM_BYTES:
            return StreamedStage(self, name)  # type: ignore[return-value]
        if name in self._sent:
            self._sent.discard(name)
            item = self._server.uploads.take(f"{self._run_id}/{name}")
            if item is not None:
                self._pulled.add(name)
                return item.to_numpy()
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
        self._server.uploads.discard_prefix(f"{self._run_id}/")
        with contextlib.suppress(PageError):
            self._page.evaluate("a => window.parity.release(a)", {"runId": self._run_id}, 10)

    def _batch_from(self, name: str) -> list[str]:
        """`name`, then the stages after it not pulled yet, up to BATCH_BYTES."""
        if name in self._pulled:  # read again: just that one
            return [name]
        batch, size = [], 0
        for n in self._names[self._names.index(name) :]:
            big = self._nbytes[n] > STREAM_BYTES
            if n in self._pulled or n in self._sent or big:
                break
            if batch and size + self._nbytes[n] > BATCH_BYTES:
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


class StreamedStage:
    """A page's stage too large to hold whole (compare/metrics.py BlockSource): its shape and
    dtype, and its values as flat slices of SLICE_BYTES pulled one at a time."""

    def __init__(self, owner: PulledStages, name: str) -> None:
        d = owner._described[name]
        self._owner = owner
        self.name = name
        self.shape = tuple(int(n) for n in d["shape"])
        self.dtype = WIRE_DTYPES[d["dtype"]]
        self.nbytes = int(d["nbytes"])
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.ndim = len(self.shape)

    def blocks(self) -> Iterator[np.ndarray]:
        owner = self._owner
        per = max(1, SLICE_BYTES // self.dtype.itemsize)
        for start in range(0, self.size, per):
            t0 = time.perf_counter()
            key = f"{owner._run_id}/{self.name}#{start}"
            try:
                owner._page.evaluate(
                    "a => window.parity.sendSlice(a)",
                    {"runId": owner._run_id, "name": self.name, "start": start, "count": per},
                    owner._timeout,
                )
                item = owner._server.uploads.take(key)
            except PageError as e:
                owner._on_error(self.name, f"could not fetch the stage from the page: {e}")
                raise BlockReadError(f"could not fetch the stage from the page: {e}") from e
            finally:
                owner.seconds += time.perf_counter() - t0
            if item is None:
                raise BlockReadError(f"the page sent no slice from element {start}")
            block = item.to_numpy()
            owner.peak_bytes = max(owner.peak_bytes, block.nbytes)
            yield block
