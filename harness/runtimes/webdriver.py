"""Browsers driven over W3C WebDriver (Selenium), behind the driver interface (runtimes/driver.py).

WebDriver classic runs one command at a time per session and cannot listen to the page's
console, so a call is started in the page (`window.parityCalls`, web/page/console.js) and then
polled: each poll waits in the page up to half a second for the call to end or a progress mark
to come, and brings back the console lines since the last poll. Every WebDriver command runs on
the page's own thread and is bounded: a page whose JS thread hangs cannot answer a poll, and is
then killed with its browser.

Each page is its own WebDriver session (its own browser process): a hung or crashed page takes
nothing else with it, and pages of one browser run calls in parallel.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from harness.runtimes.driver import BrowserUnavailable, PageError, PageTimeout

POLL_SECONDS = 0.5  # longest a poll waits in the page for the call to end or a mark to come
COMMAND_SLACK = 15.0  # a WebDriver command's own time (start a call, load a page), at most
POLL_SLACK = 2.0  # a poll's own time past the call's time left: then the page is hung
# WebDriver's own script timeout, set out of the way: the harness bounds each command itself
# (a page busy in one long synchronous kernel answers no poll until it returns, and that is
# judged against the step's time, not WebDriver's default 30 s)
SCRIPT_TIMEOUT = 7 * 24 * 3600.0


class _Unanswered(Exception):
    """A WebDriver command got no answer in time; the page has been killed."""


# Registers `expression` (a function of one argument, or an expression) on `arg` in the page;
# the first poll starts it. Its outcome goes to window.parityCalls[id], as JSON that keeps NaN
# and the infinities. (Started by this command, a call that never yields would keep the command
# itself from answering: the driver answers from the page's event loop.)
_START = """
const [expression, arg, id] = arguments;
const slot = window.parityCalls[id] = {done: false};
const settle = (fields) => {
  Object.assign(slot, fields, {done: true});
  window.parityConsole.wake();
};
const encode = (value) => JSON.stringify(value, (k, v) => {
  if (v === undefined) return null;  // a key whose value is undefined is kept, as null
  if (typeof v === 'number' && !Number.isFinite(v)) return {'$number': String(v)};
  if (ArrayBuffer.isView(v)) return Array.from(v);
  return v;
});
slot.start = () => Promise.resolve().then(() => {
  const f = (0, eval)('(' + expression + ')');
  return typeof f === 'function' ? f(arg) : f;
}).then(
  (value) => settle({value: encode(value)}),
  (e) => {  // an Error of any realm (the driver's script may run in a sandbox of its own)
    const error = Object.prototype.toString.call(e) === '[object Error]';
    settle({error: {
      message: error ? `${e.name}: ${e.message}` : `uncaught: ${String(e)}`,
      stack: error ? String(e.stack ?? '') : '',
    }});
  },
);
"""

# Starts the call if it has not started; waits up to `wait` ms for it to end or a new mark;
# answers what the driver has not seen.
_POLL = """
const [id, wait, seen, marks, done] = arguments;
const c = window.parityConsole;
c.polled = true;
c.ack(marks);
const answer = () => {
  const slot = window.parityCalls[id];
  if (slot === undefined) return done({lost: true});
  if (slot.done) delete window.parityCalls[id];
  const from = Math.max(seen - c.base, 0);
  done({done: slot.done, value: slot.value, error: slot.error, mark: c.mark, marks: c.marks,
        lines: c.lines.slice(from), next: c.base + c.lines.length,
        dropped: Math.max(c.base - seen, 0)});
};
const slot = window.parityCalls[id];
if (slot === undefined || slot.done || c.marks !== marks) return answer();
if (slot.start) {
  setTimeout(slot.start, 0);
  delete slot.start;
}
new Promise((resolve) => { c.waiters.add(resolve); setTimeout(resolve, wait); }).then(answer);
"""


def _decode(text: str | None) -> Any:
    def numbers(d: dict[str, Any]) -> Any:
        return float(d["$number"]) if set(d) == {"$number"} else d

    return None if text is None else json.loads(text, object_hook=numbers)


class WebDriverPage:
    """One page, in a WebDriver session of its own; see the module docstring."""

    def __init__(self, session: Any, kill: Callable[[], None]) -> None:
        self._session = session
        self._kill = kill  # ends the session's browser and driver processes at once
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="webdriver")
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
        future = self._pool.submit(call)
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
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
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
            lambda: self._session.execute_script(_START, expression, arg, call_id), "start a call"
        )
        while True:
            now = time.monotonic()
            since = self.progress[1] if self.progress else started
            left = timeout - (now - started)
            if step is not None:
                left = min(left, step - (now - since))
            if left <= 0:
                self._timed_out(started, timeout, step)
            wait = max(0.0, min(left, POLL_SECONDS))
            try:  # a page busy in one long synchronous kernel answers when it returns
                answer = self.command(
                    lambda w=wait: self._session.execute_async_script(
                        _POLL, call_id, int(w * 1000), self._seen, self._marks
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
            return _decode(answer.get("value"))

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
        at = self.progress[0] if self.progress else None
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
        raise PageTimeout(f"{text}; the page was closed", console=self.console[-20:], at=at)

    def open(self, url: str, timeout: float) -> None:
        """Load the harness page and wait until its client (`window.parity`) is there."""
        self._command(lambda: self._session.set_script_timeout(SCRIPT_TIMEOUT), "set up")
        self._command(lambda: self._session.set_page_load_timeout(timeout), "set up")
        try:
            self.command(lambda: self._session.get(url), timeout + COMMAND_SLACK)
        except _Unanswered:
            raise PageTimeout(f"a new page did not load within {timeout:.0f} s") from None
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
            if not done.wait(10):
                self._kill()
        self._pool.shutdown(wait=False, cancel_futures=True)


class WebDriverDriver:
    """A browser whose pages are WebDriver sessions started by `new_session()`. `kill_of`
    gives, for a session, what ends its processes at once. `display` (a VirtualDisplay or
    None) is closed with the driver. `version` is "<label> <version>", as its first session
    reports it (`version` until then)."""

    def __init__(
        self,
        name: str,
        label: str,
        version: str,
        new_session: Callable[[], Any],
        kill_of: Callable[[Any], Callable[[], None]],
        display: Any = None,
    ) -> None:
        self.name = name
        self.label = label
        self.version = f"{label} {version}"
        self._new_session = new_session
        self._kill_of = kill_of
        self._display = display
        self._pages: list[WebDriverPage] = []
        self._lock = threading.Lock()
        self._closed = False

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
        try:
            session = _bounded(self._new_session, timeout + COMMAND_SLACK)
        except concurrent.futures.TimeoutError:
            raise BrowserUnavailable(
                f"{self.name} did not start within {timeout + COMMAND_SLACK:.0f} s"
            ) from None
        except BrowserUnavailable:
            raise
        except Exception as e:
            raise BrowserUnavailable(f"{self.name} did not start: {_first_line(e)}") from None
        page = WebDriverPage(session, self._kill_of(session))
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
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(call)
    try:
        return future.result(limit)
    except concurrent.futures.TimeoutError:
        future.add_done_callback(_quit_late)
        raise
    finally:
        pool.shutdown(wait=False)


def _quit_late(future: concurrent.futures.Future[Any]) -> None:
    if future.exception() is None:
        with contextlib.suppress(Exception):
            future.result().quit()


def _first_line(error: BaseException) -> str:
    text = (getattr(error, "msg", None) or str(error)).strip()
    return text.splitlines()[0] if text else type(error).__name__
