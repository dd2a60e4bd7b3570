"""Pages as windows of one WebDriver session, for a remote WebDriver server that runs one session
at a time (a bare geckodriver or WebKitWebDriver: "Session is already started", "Maximum number
of active sessions"). Every command of a page switches the session to its window first, under
the session's lock, so pages take turns; a page found hung ends the whole session (its browser
is not here to kill), and the next page starts a new one.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

SHARED_POLL_SECONDS = 0.05  # a poll holds the session's lock: short, so the pages take turns


def refuses_second_session(error: BaseException) -> bool:
    """The server said it runs one session at a time."""
    text = str(getattr(error, "msg", None) or error).lower()
    return "session is already started" in text or "maximum number of active sessions" in text


class SharedSession:
    """One WebDriver session whose windows are pages; `dead` once ended or abandoned."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.lock = threading.RLock()
        self.current = session.current_window_handle
        self.handles = {self.current}
        self.dead = False

    def new_window(self) -> str:
        with self.lock:
            self.session.switch_to.new_window("window")
            self.current = self.session.current_window_handle
            self.handles.add(self.current)
            return self.current

    def end(self) -> None:
        """The session ended, without waiting for an answer (a hung page holds it)."""
        self.dead = True
        threading.Thread(target=self._quit, daemon=True).start()

    def _quit(self) -> None:
        with contextlib.suppress(Exception):
            self.session.quit()


class WindowSession:
    """The part of a Selenium session a WebDriverPage uses, on one window of a SharedSession."""

    def __init__(self, shared: SharedSession, handle: str) -> None:
        self._shared = shared
        self._handle = handle
        self.capabilities = shared.session.capabilities

    def _on_window(self, name: str, *args: Any) -> Any:
        shared = self._shared
        with shared.lock:
            if shared.dead:
                raise RuntimeError("the shared WebDriver session was ended (a page in it hung)")
            if shared.current != self._handle:
                shared.session.switch_to.window(self._handle)
                shared.current = self._handle
            return getattr(shared.session, name)(*args)

    def execute_script(self, *args: Any) -> Any:
        return self._on_window("execute_script", *args)

    def execute_async_script(self, *args: Any) -> Any:
        return self._on_window("execute_async_script", *args)

    def get(self, url: str) -> Any:
        return self._on_window("get", url)

    def set_script_timeout(self, seconds: float) -> Any:
        return self._on_window("set_script_timeout", seconds)

    def set_page_load_timeout(self, seconds: float) -> Any:
        return self._on_window("set_page_load_timeout", seconds)

    def end_session(self) -> None:
        """The whole session ended at once (this page hung: its browser is not here to kill)."""
        self._shared.end()

    def quit(self) -> None:
        """Close this page's window; the last window ends the session."""
        shared = self._shared
        with shared.lock:
            if shared.dead:
                return
            shared.handles.discard(self._handle)
            if not shared.handles:
                shared.dead = True
                shared.session.quit()
                return
            shared.session.switch_to.window(self._handle)
            shared.session.close()
            shared.current = next(iter(shared.handles))
            shared.session.switch_to.window(shared.current)
