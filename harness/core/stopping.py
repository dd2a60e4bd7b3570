"""How a run is stopped from outside (a signal): an exception no layer may take for the user's
error or a run's failure."""

from __future__ import annotations


class RunStopped(BaseException):
    """The whole run is being stopped (SIGTERM: a CI job's cancel, `timeout`, `docker stop`).
    A BaseException, as KeyboardInterrupt is, so that no `except Exception` on the way turns it
    into a run's error; code that takes any BaseException of the user's as their error lets
    this one through."""
