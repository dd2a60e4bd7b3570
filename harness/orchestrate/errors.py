"""The harness's own failures, said where they happened."""

from __future__ import annotations

import traceback
from pathlib import Path

from harness.runtimes.browser import BackendUnavailable
from harness.runtimes.driver import BrowserUnavailable, PageError
from harness.runtimes.webdriver_errors import LOST
from harness.specs.params import PipelineSpecError

OPENING = ("a new page could not open", "a new page did not load")  # the drivers' words


def run_error(error: BaseException) -> str:
    """A run's error reason for `error`, raised while the run was under way: the case and the
    pipeline do not fit ("this case: ..."); the browser or backend could not be had again
    (its own sentence says which and why: a remote server gone, a browser that does not
    restart); a page that could not open (e.g. a --public-url the browser cannot reach);
    else the harness's own failure, where it happened (`harness_error`)."""
    if isinstance(error, PipelineSpecError):
        return f"this case: {error}"
    if isinstance(error, BrowserUnavailable | BackendUnavailable):
        return str(error)
    if isinstance(error, PageError) and (str(error).startswith(OPENING) or LOST in str(error)):
        return str(error)  # a page that could not load, a WebDriver server gone: not the harness
    return harness_error(error)


def harness_error(error: BaseException) -> str:
    """'harness error: TYPE: message (at file.py:line in function)', the innermost frame."""
    text = f"harness error: {type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        text += f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})"
    return text
