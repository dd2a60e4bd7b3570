"""Browsers driven over W3C WebDriver (Selenium), behind the driver interface (runtimes/driver.py).

Each page is its own WebDriver session (its own browser process): a hung or crashed page takes
nothing else with it, and pages of one browser run calls in parallel. A remote WebDriver server
that runs one session at a time (a bare geckodriver or WebKitWebDriver) is driven as one shared
session with a window per page (webdriver_windows.py) instead.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.runtimes.driver import BrowserUnavailable, PageError
from harness.runtimes.webdriver_calls import in_daemon
from harness.runtimes.webdriver_errors import said
from harness.runtimes.webdriver_page import COMMAND_SLACK, WebDriverPage
from harness.runtimes.webdriver_windows import (
    SHARED_POLL_SECONDS,
    SharedSession,
    WindowSession,
    refuses_second_session,
)


class WebDriverDriver:
    """A browser whose pages are WebDriver sessions started by `new_session()`. `kill_of`
    gives, for a local session, what ends its processes at once (`remote`: None). `display`
    (a VirtualDisplay or None) is closed with the driver. `server` names the WebDriver server
    in errors ("geckodriver", "the WebDriver server at http://..."). `version` is
    "<label> <version>", as its first session reports it (`version` until then)."""

    def __init__(
        self,
        name: str,
        label: str,
        version: str,
        new_session: Callable[[], Any],
        kill_of: Callable[[Any], Callable[[], None]] | None,
        display: Any = None,
        remote: bool = False,
        server: str = "the WebDriver driver",
    ) -> None:
        self.name = name
        self.label = label
        self.version = f"{label} {version}"
        self.server = server
        self._new_session = new_session
        self._kill_of = kill_of
        self._display = display
        self._pages: list[WebDriverPage] = []
        self._lock = threading.Lock()
        self._closed = False
        # remote: sessions are SharedSessions, so that a server that runs one session at a
        # time gets a window per page instead (webdriver_windows.py)
        self.remote = remote
        self._shared: list[SharedSession] = []
        self._remote_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        """Each page is its own browser, so the driver lives while its display does."""
        return not self._closed and (self._display is None or self._display.alive)

    def open_page(self, url: str, timeout: float = 60.0) -> WebDriverPage:
        """A new session on `url`; BrowserUnavailable if the browser does not start, PageError
        or PageTimeout if the page does not load."""
        with self._lock:
            if self._closed:
                raise PageError("the browser was closed (the run is stopping)")
        # a remote server's sessions are asked for one at a time: a server that runs one
        # session must have the first registered before it refuses the second
        with self._remote_lock if self.remote else contextlib.nullcontext():
            session = self._start(timeout)
            if self.remote:
                page = self._remote_page(session)
            else:
                assert self._kill_of is not None  # a local browser's processes are here to kill
                page = WebDriverPage(session, self._kill_of(session), server=self.server)
        with self._lock:
            self._pages.append(page)
        found = session.capabilities.get("browserVersion")
        if found:
            self.version = f"{self.label} {found}"
        try:
            page.open(url, timeout)
        except Exception:
            page.close(kill=True)
            raise
        return page

    def _start(self, timeout: float) -> Any:
        """A new session, or (a remote server that runs one at a time) a window of it."""
        try:
            return _bounded(self._new_session, timeout + COMMAND_SLACK)
        except concurrent.futures.TimeoutError:
            raise BrowserUnavailable(
                f"{self.name} did not start within {timeout + COMMAND_SLACK:.0f} s: "
                f"{self.server} did not answer the new-session request"
            ) from None
        except BrowserUnavailable:
            raise
        except Exception as e:
            session = self._window(e, timeout)
            if session is None:
                why = said(e, self.server, starting=True)
                raise BrowserUnavailable(f"{self.name} did not start: {why}") from None
            return session

    def _window(self, refused: Exception, timeout: float) -> Any:
        """A new window in a live shared session, when the server refused a second session;
        else None."""
        if not (self.remote and refuses_second_session(refused)):
            return None
        with self._lock:
            live = [shared for shared in self._shared if not shared.dead]
        if not live:
            return None
        shared = live[0]
        try:  # bounded: a hung page of the session holds its lock
            handle = _bounded(shared.new_window, timeout + COMMAND_SLACK)
        except Exception:  # the session is busy or gone: said as the first refusal
            return None
        return WindowSession(shared, handle)

    def _remote_page(self, session: Any) -> WebDriverPage:
        """A page of a remote server: its session shared (a window of its own in it)."""
        if isinstance(session, WindowSession):
            window = session
        else:
            shared = SharedSession(session)
            with self._lock:
                self._shared.append(shared)
            window = WindowSession(shared, shared.current)
        return WebDriverPage(
            window, window.end_session, SHARED_POLL_SECONDS, own_processes=False, server=self.server
        )

    def close(self, timeout: float = 30.0, kill: bool = False) -> None:
        with self._lock:
            self._closed = True
            pages, self._pages = self._pages, []
        threads = [
            threading.Thread(target=page.close, kwargs={"kill": kill}, daemon=True)
            for page in pages
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._display is not None:
            self._display.close()


def _bounded(call: Callable[[], Any], limit: float) -> Any:
    """`call()` (a new session) on a thread of its own, within `limit` seconds (TimeoutError
    past it); a session that comes after that is ended, not left running."""
    future = in_daemon(call)
    try:
        return future.result(limit)
    except concurrent.futures.TimeoutError:
        future.add_done_callback(_quit_late)
        raise


def _quit_late(future: concurrent.futures.Future[Any]) -> None:
    if future.exception() is None and hasattr(future.result(), "quit"):
        with contextlib.suppress(Exception):
            future.result().quit()
