"""How a command is stopped from outside: SIGTERM raised as an exception every layer lets
through (core.stopping.RunStopped), and the exit status a shell expects after a signal."""

from __future__ import annotations

import signal

from harness.core.stopping import RunStopped

EXIT_ON_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as shells do


class Terminated(RunStopped):
    """SIGTERM (a CI job's cancel, `timeout`, `docker stop`): what was done is still said."""


def terminate(signum: int, _frame: object) -> None:
    """The SIGTERM handler: raises Terminated in the main thread."""
    raise Terminated(signal.Signals(signum).name)
