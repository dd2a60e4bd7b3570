"""Browser drivers behind a small interface: launch, open a page, evaluate, close.

The page client (runtimes/browser.py) only uses this interface, so a WebDriver-driven Firefox or
WebKit slots in beside Playwright-driven Chromium (runtimes/chromium.py). Every call can be
bounded by a timeout: a hung page is closed and reported instead of hanging the run.
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class BrowserUnavailable(RuntimeError):
    """The browser cannot be launched here; the message says what to install."""


class PageError(RuntimeError):
    """JS failed in the page, or the page died; carries the JS stack and console lines."""

    def __init__(
        self,
        message: str,
        stack: str | None = None,
        console: list[str] | None = None,
        at: str | None = None,
    ):
        super().__init__(message)
        self.stack = stack
        self.console = console or []
        # stages the page had sent before it failed (the first ones, sent as each step ended)
        self.stages: dict[str, Any] = {}
        self.at = at  # the step ("step resize") or tap the page was on, when it said


class PageTimeout(PageError):
    """The page did not answer in time; `at` is the step (or tap) it was on, when it said."""

    def __init__(self, message: str, console: list[str] | None = None, at: str | None = None):
        super().__init__(message, console=console, at=at)


def timed_out(
    progress: tuple[str, float] | None,
    started: float,
    timeout: float,
    step: float | None,
    console: list[str],
) -> PageTimeout:
    """The PageTimeout of a call started at `started` (monotonic) that passed `timeout` in all,
    or `step` since the page's last progress mark: it names the step, the repeat pass's step or
    the code after a tap the page was on, and the limit."""
    at = progress[0] if progress else None
    over_step = step is not None and time.monotonic() - started < timeout
    if over_step and at:
        kind, _, name = at.partition(" ")
        what = {
            "step": f"step {name!r}",
            "repeat": f"step {name!r} in the repeat pass",
        }.get(kind, f"the code after tap {name!r}")
        text = f"js: {what} did not finish within {step:.3g} s (--timeout)"
    elif over_step:
        text = f"js: the page did not start within {step:.3g} s (--timeout)"
    else:
        text = f"js: the page did not answer within {timeout:.3g} s"
    return PageTimeout(f"{text}; the page was closed", console=console[-20:], at=at)


class Page(Protocol):
    console: list[str]
    # the page's last progress mark ("step resize", "tap pixels") and when it came (monotonic)
    progress: tuple[str, float] | None

    def evaluate(
        self, expression: str, arg: Any = None, timeout: float = 120.0, step: float | None = None
    ) -> Any: ...
    def close(self) -> None: ...


class Driver(Protocol):
    name: str
    version: str

    @property
    def alive(self) -> bool: ...  # the browser process and its driver are still there

    def open_page(self, url: str, timeout: float = 60.0) -> Page: ...
    def close(self, timeout: float = 30.0, kill: bool = False) -> None: ...
