"""One page driven over W3C WebDriver (Selenium), behind the driver interface
(runtimes/driver.py): calls started and polled (webdriver_calls.py). Every WebDriver command
runs on the page's own thread and is bounded: a page whose JS thread hangs cannot answer a poll,
and is then killed (its browser with it, or its session when pages share one)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from harness.runtimes.driver import PageError, PageTimeout, timed_out
from harness.runtimes.webdriver_calls import POLL, START, decode, in_daemon
from harness.runtimes.webdriver_errors import said

POLL_SECONDS = 0.5  # longest a poll waits in the page for the call to end or a mark to come
COMMAND_SLACK = 15.0  # a WebDriver command's own time (start a call, load a page), at most
POLL_SLACK = 2.0  # a poll's own time past the call's time left: then the page is hung
# WebDriver's own script timeout, set out of the way: the harness bounds each command itself
# (a page busy in one long synchronous kernel answers no poll until it returns, and that is
# judged against the step's time, not WebDriver's default 30 s)
SCRIPT_TIMEOUT = 7 * 24 * 3600.0


class _Unanswered(Exception):
    """A WebDriver command got no answer in time; the page has been killed."""


class WebDriverPage:
    """One page: a WebDriver session of its own, or a window of a shared one (its commands
    switch to that window first: webdriver_windows.py)."""

    def __init__(
        self,
        session: Any,
        kill: Callable[[], None],
        poll_seconds: float = POLL_SECONDS,
        own_processes: bool = True,
        server: str = "the WebDriver driver",
    ) -> None:
        """`kill` ends the page's browser at once; `own_processes`: they are this page's alone
        (a local session), so `kill` also follows a normal quit, to make sure. `server` names
        the WebDriver server in errors."""
        self._session = session
        self._server = server
        self._own = own_processes
        self._poll_seconds = poll_seconds  # shorter where pages share a session (and a lock)
        self._kill = kill  # ends the session's browser and driver processes at once
        self.console: list[str] = []
        self.progress: tuple[str, float] | None = None
        self._seen = 0  # console lines read so far
        self._marks = 0  # progress marks seen so far
        self.closed = False
        self.crashed = False

    def command(self, call: Callable[[], Any], limit: float) -> Any:
        """`call` (one WebDriver command) on the page's thread, within `limit` seconds; past
        it the page is killed (its JS thread is hung) and _Unanswered raised. A WebDriver
        error (the page, its browser or its driver failed) is a PageError."""
        if self.closed:
            raise PageError("the page was closed", console=self.console[-20:])
        future = in_daemon(call)
        try:
            return future.result(limit)
        except concurrent.futures.TimeoutError:
            self.close(kill=True)
            raise _Unanswered from None
        except Exception as e:
            raise self._failed(e) from None

    def _command(self, call: Callable[[], Any], what: str) -> Any:
        """A command outside a call (load the page, start a call), within COMMAND_SLACK."""
        try:
            return self.command(call, COMMAND_SLACK)
        except _Unanswered:
            raise PageTimeout(
                f"js: the page did not answer ({what}) within {COMMAND_SLACK:.3g} s; the page "
                "was closed",
                console=self.console[-20:],
            ) from None

    def _failed(self, error: Exception) -> PageError:
        text = getattr(error, "msg", None) or str(error) or type(error).__name__
        first = said(error, self._server)
        at = self.progress[0] if self.progress else None
        if "crash" in text.lower():
            self.crashed = True
            where = f" at {at}" if at else ""
            first = f"the page crashed{where} (its content process died: out of memory, or killed)"
        elif self.closed:
            first = f"the page was closed: {first}"
        return PageError(first, console=self.console[-20:], at=at)

    def evaluate(
        self, expression: str, arg: Any = None, timeout: float = 120.0, step: float | None = None
    ) -> Any:
        """`expression` evaluated in the page, within `timeout` seconds in all and, with
        `step`, within `step` seconds of the page's last progress mark. A page past either is
        closed: PageTimeout naming where it was. JS errors: PageError with the JS stack."""
        if self.crashed:
            raise PageError("the page has crashed", console=self.console[-20:])
        self.progress = None
        started = time.monotonic()
        call_id = secrets.token_hex(6)
        self._command(
            lambda: self._session.execute_script(START, expression, arg, call_id), "start a call"
        )
        while True:
            now = time.monotonic()
            since = self.progress[1] if self.progress else started
            left = timeout - (now - started)
            if step is not None:
                left = min(left, step - (now - since))
            if left <= 0:
                self._timed_out(started, timeout, step)
            wait = max(0.0, min(left, self._poll_seconds))
            try:  # a page busy in one long synchronous kernel answers when it returns
                answer = self.command(
                    lambda w=wait: self._session.execute_async_script(
                        POLL, call_id, int(w * 1000), self._seen, self._marks
                    ),
                    left + POLL_SLACK,
                )
            except _Unanswered:
                self._timed_out(started, timeout, step)
            if answer.get("lost"):  # the page navigated or reloaded under the call
                raise PageError(
                    "the page was reloaded or navigated away while it ran", console=self.console
                )
            self._take(answer)
            if not answer["done"]:
                continue
            if answer.get("error"):
                e = answer["error"]
                at = self.progress[0] if self.progress else None
                raise PageError(
                    e["message"], stack=e["stack"] or None, console=self.console[-20:], at=at
                )
            return decode(answer.get("value"))

    def _take(self, answer: dict[str, Any]) -> None:
        if answer.get("dropped"):
            self.console.append(f"[warning] ({answer['dropped']} console lines not read)")
        self.console.extend(f"[{kind}] {text}" for kind, text in answer["lines"])
        self._seen = answer["next"]
        if answer["marks"] != self._marks and answer["mark"] is not None:
            self._marks = answer["marks"]
            self.progress = (answer["mark"], time.monotonic())

    def _timed_out(self, started: float, timeout: float, step: float | None) -> NoReturn:
        self.close(kill=True)
        raise timed_out(self.progress, started, timeout, step, self.console)

    def open(self, url: str, timeout: float) -> None:
        """Load the harness page and wait until its client (`window.parity`) is there."""
        self._command(lambda: self._session.set_script_timeout(SCRIPT_TIMEOUT), "set up")
        self._command(lambda: self._session.set_page_load_timeout(timeout), "set up")
        try:
            self.command(lambda: self._session.get(url), timeout + COMMAND_SLACK)
        except _Unanswered:
            raise PageTimeout(f"a new page did not load within {timeout:.0f} s") from None
        except PageError as e:  # e.g. Firefox's error page for a --public-url it cannot reach
            raise PageError(f"a new page could not open: {e}", console=e.console) from None
        deadline = time.monotonic() + timeout
        while not self._command(
            lambda: self._session.execute_script("return window.parity !== undefined"), "load"
        ):
            if time.monotonic() > deadline:
                raise PageTimeout(f"a new page did not load within {timeout:.0f} s")
            time.sleep(0.05)

    def close(self, kill: bool = False) -> None:
        """End the session and its browser; `kill`: at once, without asking the driver (a
        busy page's browser does not answer `quit`)."""
        if self.closed:
            return
        self.closed = True
        if kill:
            self._kill()
        else:
            done = threading.Event()

            def quit_session() -> None:
                with contextlib.suppress(Exception):
                    self._session.quit()
                done.set()

            threading.Thread(target=quit_session, daemon=True).start()
            if not done.wait(10) or self._own:  # what quit left running, or no answer
                self._kill()
