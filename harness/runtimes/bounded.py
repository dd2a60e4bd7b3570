"""Python work bounded in time: the user's op or code runs on a daemon thread, and the run goes
on without it once the limit passes (a Python thread cannot be stopped; it is left to finish
in the background and ends with the process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from harness.core.stopping import RunStopped


class PythonTimeout(RuntimeError):
    """The work did not finish (or give a sign of progress) within its limit."""


def ends_user_run(error: BaseException) -> bool:
    """Whether an exception from the user's Python (an op or code with taps) ends that run only,
    as the user's error: any exception, SystemExit (sys.exit()) and the other BaseExceptions a
    library or the user may raise (asyncio.CancelledError, GeneratorExit, a class of their
    own); but not Ctrl-C or SIGTERM (KeyboardInterrupt, RunStopped), which stop the whole
    run."""
    return not isinstance(error, KeyboardInterrupt | RunStopped)


def bounded(
    work: Callable[[], Any],
    seconds: float,
    what: Callable[[], str],
    progress: Callable[[], float] | None = None,
) -> Any:
    """`work()`'s result, or its exception, within `seconds`; with `progress` (the monotonic
    time of its last sign of progress, e.g. a tap), within `seconds` of that. Raises
    PythonTimeout with `what()` (where it was, in the user's terms) once the limit passes, and
    also when the work finished past it: a long C call that holds Python's GIL (e.g.
    `sum(range(10**9))`) keeps this thread from looking at the clock until it returns."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as e:  # handed to the caller's thread, as raised
            box["error"] = e
        finally:
            done.set()

    started = time.monotonic()
    threading.Thread(target=target, daemon=True, name="parity-python").start()
    while True:
        finished = done.wait(0.05)
        since = max(started, progress()) if progress is not None else started
        late = time.monotonic() - since
        if late > seconds:
            if finished:
                raise PythonTimeout(
                    f"{what()} did not finish within {seconds:g} s (--timeout): it took "
                    f"{late:.1f} s, holding Python's GIL, so it could not be stopped sooner"
                )
            raise PythonTimeout(
                f"{what()} did not finish within {seconds:g} s (--timeout); left running in "
                "the background"
            )
        if finished:
            break
    if "error" in box:
        raise box["error"]
    return box.get("value")
