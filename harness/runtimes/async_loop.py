"""An asyncio event loop on a daemon thread, for a driver whose API is async (Playwright's):
every call from the harness's threads blocks for its result, bounded by a timeout."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any

from harness.runtimes.driver import PageError


class Loop:
    """An asyncio loop on a daemon thread; `run(coro, timeout)` blocks for the result. Once
    stopped, calls in flight and later calls end at once with PageError (a thread waiting on a
    stopped loop would wait out its whole timeout)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_quiet_orphans)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.RLock()
        self.stopped = False

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        future = self.submit(coro)
        try:
            return self.wait(future, timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Start `coro` on the loop; `wait` for it (in slices, if the caller likes)."""
        with self._lock:
            if self.stopped:
                coro.close()
                raise PageError("the browser was closed (the run is stopping)")
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
            self._pending.add(future)
        # outside the lock: a future already done runs its callback here, at once
        future.add_done_callback(self._done)
        return future

    def _done(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait(self, future: concurrent.futures.Future[Any], timeout: float | None) -> Any:
        """The result of a submitted call; TimeoutError leaves it running."""
        try:
            return future.result(timeout)
        except concurrent.futures.CancelledError:
            raise PageError("the browser was closed (the run is stopping)") from None

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            for future in self._pending:
                future.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def _quiet_orphans(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Playwright's own futures left failed when its driver or browser dies ("Future exception
    was never retrieved: Connection closed while reading from the driver"): the harness has
    told the run already; anything else goes to asyncio's default handler."""
    if str(context.get("message", "")).startswith("Future exception was never retrieved"):
        return
    loop.default_exception_handler(context)
