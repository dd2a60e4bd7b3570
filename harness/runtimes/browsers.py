"""The session's browsers: started on first use, restarted once per death, their pages kept per
backend variant and replaced when broken; a call on a page that hangs or dies becomes a failure
of the step it was on, never a crash of the session."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.core.outputs import INPUT_STAGE, RuntimeOutput, StageFailure
from harness.core.timings import Timings
from harness.runtimes import webdriver_browsers
from harness.runtimes.browser import BackendInfo, BackendPage, with_console
from harness.runtimes.browser_session import BrowserSession
from harness.runtimes.chromium import ChromiumDriver
from harness.runtimes.driver import BrowserUnavailable, Driver, PageError
from harness.runtimes.endpoints import Endpoints
from harness.runtimes.server import ParityServer
from harness.specs.variants import BROWSERS


def launch(browser: str, endpoints: Endpoints | None = None) -> Driver:
    """The named browser, started (Chromium) or ready to open pages (Firefox, WebKit: each page
    is a WebDriver session); here, or where `endpoints` say. BrowserUnavailable says what to
    install."""
    endpoints = endpoints or Endpoints()
    if browser == "chromium":
        return ChromiumDriver(connect=endpoints.connect)
    if browser == "firefox":
        return webdriver_browsers.firefox(endpoints.webdriver_url)
    if browser == "webkit":
        return webdriver_browsers.webkit(endpoints.webdriver_url)
    raise BrowserUnavailable(f"unknown browser {browser!r} (browsers: {', '.join(BROWSERS)})")


class Browsers:
    """Every browser of one session, by name ("chromium"). Thread-safe: pages of one browser
    run calls in parallel (each page is its own renderer process)."""

    def __init__(
        self,
        server: ParityServer,
        timings: Timings,
        max_stage_mb: float,
        endpoints: Endpoints | None = None,
    ) -> None:
        self.server = server
        self.endpoints = endpoints or Endpoints()  # where the browsers are
        self.timings = timings
        self.max_stage_mb = max_stage_mb  # the largest stage a page reads back
        # browser -> seconds its start took (a WebDriver browser starts one per page: in the
        # pages' init_seconds)
        self.startup: dict[str, float] = {}
        self.restarts: dict[str, int] = {}  # browser -> how many times it died and was restarted
        # browser -> pages found broken between runs (no run was on them): variant and why
        self.replaced: dict[str, list[dict[str, str]]] = {}
        self._lock = threading.RLock()
        self._closed = False  # set on close: no browser starts after it
        self._sessions: dict[str, BrowserSession] = {}
        self._unavailable: dict[str, str] = {}

    def session(self, browser: str) -> BrowserSession:
        """The running browser; raises BrowserUnavailable (remembered) if it cannot start. A
        browser whose process (or Playwright driver) exited is started again, once per death:
        the run that was on it is an error, the runs after it go on."""
        if browser in self._unavailable:
            raise BrowserUnavailable(self._unavailable[browser])
        with self._lock:
            if self._closed:
                raise BrowserUnavailable("the harness is closed (the run is stopping)")
            old = self._sessions.get(browser)
            if old is not None and not old.driver.alive:
                self.restarts[browser] = self.restarts.get(browser, 0) + 1
                with contextlib.suppress(Exception):
                    old.driver.close(timeout=5.0)
                del self._sessions[browser]
            if browser not in self._sessions:
                started = time.perf_counter()
                with self.timings.phase("browser_start"):
                    try:
                        self._sessions[browser] = BrowserSession(
                            launch(browser, self.endpoints), self.server
                        )
                    except BrowserUnavailable as e:
                        self._unavailable[browser] = str(e)
                        raise
                self.startup[browser] = time.perf_counter() - started
            return self._sessions[browser]

    def page(self, browser: str, variant: str) -> BackendPage:
        """The variant's page, ready: one that lost its GPU context or device, or had its
        backend switched by the page's code (during the last run or since), is replaced by a
        fresh one first, so the fault stays with the case that met it. Raises
        BrowserUnavailable or BackendUnavailable with the reason."""
        session = self.session(browser)
        with self.timings.phase("backend_init"):
            page = session.page(variant)
            if page.fault() is not None:
                if not page.reported:  # it broke while idle: no run said it, the report does
                    said = {"variant": variant, "reason": page.broken or ""}
                    self.replaced.setdefault(browser, []).append(said)
                session.forget(variant)
                page = session.page(variant)
        page.max_stage_mb = self.max_stage_mb
        return page

    def call(
        self,
        browser: str,
        variant: str,
        call: Callable[[], RuntimeOutput],
        unplaced: str = INPUT_STAGE,
    ) -> RuntimeOutput:
        """Run `call` on the variant's page; a page that crashed or hung is dropped (the next
        use opens a fresh one) and becomes an error of the step it was on (the page's last
        progress mark; `unplaced` when it had said none, or was on a tap of the user's code,
        which the code pipeline places), so the other runs go on. The output of such a call
        has `lost_earlier` set: what the page held from earlier calls went with it."""
        try:
            out = call()
        except PageError as e:
            session = self._sessions.get(browser)
            if session is not None and _browser_gone(session, e):
                sent = e.stages
                remote = self.endpoints.remote(browser)
                lost = (
                    f"the connection to the remote browser ({remote}) was lost: {e}; the next "
                    "run connects again"
                    if remote
                    else f"the browser process exited (or its driver did): {e}; the next run "
                    "starts a new one"
                )
                e = PageError(lost, console=e.console, at=e.at)
                e.stages = sent
            elif session is not None:
                session.forget(variant)
            kind, _, name = (e.at or "").partition(" ")
            stage = name if kind in ("step", "repeat") else unplaced
            after = name if kind == "tap" else None
            failure = StageFailure(
                stage, with_console(str(e), e.console), harness=True, after=after
            )
            if kind == "repeat":  # the chained pass had finished: not a failure of its stages
                out = RuntimeOutput(dict(e.stages), repeat_failure=failure)
            else:
                out = RuntimeOutput(dict(e.stages), {stage: failure})  # what it sent is compared
            out.lost_earlier = True
        for phase in ("compute", "transfer"):
            self.timings.add(phase, out.timings.get(phase, 0.0))
        return out

    def environment(self) -> dict[str, Any]:
        """Per browser: version, each variant's probe, restarts, pages replaced; or the error
        that kept it from starting."""
        browsers: dict[str, Any] = {}
        for name, session in self._sessions.items():
            browsers[name] = {
                "version": session.driver.version,
                "startup_seconds": round(self.startup.get(name, 0.0), 3),
                "remote": self.endpoints.remote(name),  # the server it ran on, None: here
                "backends": {v: _info_dict(session.probe(v)) for v in session.known_variants()},
                "restarts": self.restarts.get(name, 0),  # the browser died and was restarted
                "pages_replaced": self.replaced.get(name, []),  # broken between runs
            }
        for name, reason in self._unavailable.items():
            browsers[name] = {"version": None, "error": reason, "backends": {}}
        return browsers

    def close(self, stopping: bool = False) -> None:
        """Close every browser. `stopping` (Ctrl-C, SIGTERM): no page-by-page goodbye (a busy
        page takes its time); closing the browser ends every page and every call in flight."""
        with self._lock:  # no browser is started (or restarted) from here on
            self._closed = True
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            if not stopping:
                session.close()
            session.driver.close(timeout=5.0 if stopping else 30.0, kill=stopping)


def _browser_gone(session: BrowserSession, error: PageError) -> bool:
    """The browser (or its driver) exited: a page closed under the harness ("Target page,
    context or browser has been closed") while its browser's exit is still on its way is
    given two seconds to say so."""
    closed = "closed" in str(error).lower()
    for _ in range(10 if closed else 1):
        if not session.driver.alive:
            return True
        if closed:
            time.sleep(0.2)
    return False


def _info_dict(info: BackendInfo) -> dict[str, Any]:
    return {
        "requested": info.requested,
        "active": info.active,
        "status": info.status,
        "reason": info.reason,
        "flags": info.flags,
        "init_seconds": round(info.init_seconds, 3),
        **info.capabilities,
    }
