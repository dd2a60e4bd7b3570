"""Chromium driven by Playwright, behind the driver interface (runtimes/driver.py).

Playwright's async API runs on a private event loop thread, so every call can be bounded by a
timeout: a hung page is closed and reported instead of hanging the run.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.parse
from typing import Any

from harness.runtimes.async_loop import Loop
from harness.runtimes.driver import (
    BrowserUnavailable,
    PageError,
    PageTimeout,
    timed_out,
)
from harness.runtimes.endpoints import (
    LAUNCH_OPTIONS,
    launch_options,
    redact,
    shown,
    ws_endpoint,
)

CHROMIUM_PATH = os.environ.get("TFJS_PARITY_CHROMIUM", "/usr/bin/chromium")
# Without these Chromium keeps calling Google's hosts, which this closed network refuses.
QUIET_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
)
# All four are needed for a working WebGPU on SwiftShader: with --enable-unsafe-webgpu alone an
# adapter appears but the first readback returns zeros ("mapAsync ... external Instance
# reference no longer exists"); --use-gl=swiftshader instead breaks WebGL.
WEBGPU_ARGS = (
    "--enable-unsafe-webgpu",
    "--use-angle=swiftshader",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
)


def chromium_version(executable: str = CHROMIUM_PATH) -> str:
    out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip().split(" built on")[0]


def require_chromium(executable: str = CHROMIUM_PATH) -> None:
    if shutil.which(executable) is None:
        hint = (
            "apt-get install -y chromium"
            if os.geteuid() == 0
            else "sudo apt-get install -y chromium"
        )
        raise BrowserUnavailable(
            f"Chromium is not installed at {executable}. Install Debian's package: {hint} "
            "(bin/tfjs-parity and bin/test do it for you when run as root)."
        )


class PlaywrightPage:
    """Every Playwright call, listeners included, goes through the driver's loop thread: adding a
    listener sends a protocol message, and sending from another thread corrupts the connection
    ("Cannot find command to respond")."""

    def __init__(self, driver: ChromiumDriver, page: Any) -> None:
        self._driver = driver
        self._page = page
        self.console: list[str] = []
        self.progress: tuple[str, float] | None = None
        # what the page's progress marks start with: its own per load (web/page/console.js),
        # read once it has loaded
        self.prefix: str | None = None
        self.crashed = False

    def _on_console(self, message: Any) -> None:
        text = message.text
        if self.prefix and text.startswith(self.prefix):  # the page's marks: not its output
            self.progress = (text[len(self.prefix) :], time.monotonic())
        else:
            self.console.append(f"[{message.type}] {text}")

    def listen(self) -> None:  # on the loop thread
        self._page.on("console", self._on_console)
        self._page.on("pageerror", lambda e: self.console.append(f"[pageerror] {e}"))
        self._page.on("crash", lambda _p: setattr(self, "crashed", True))

    def evaluate(
        self, expression: str, arg: Any = None, timeout: float = 120.0, step: float | None = None
    ) -> Any:
        """`expression` evaluated in the page, within `timeout` seconds in all and, with
        `step`, within `step` seconds of the page's last progress mark (each step or tap
        gets `step` seconds). A page past either is closed: PageTimeout naming where it was."""
        from playwright.async_api import Error as PlaywrightError

        if self.crashed:
            raise PageError("the page has crashed", console=self.console[-20:])
        self.progress = None
        started = time.monotonic()
        future = self._driver._loop.submit(self._page.evaluate(expression, arg))
        try:
            while True:
                since = self.progress[1] if self.progress else started
                now = time.monotonic()
                left = timeout - (now - started)
                if step is not None:
                    left = min(left, step - (now - since))
                if left <= 0:
                    raise concurrent.futures.TimeoutError
                try:
                    return self._driver._loop.wait(future, min(left, 0.5))
                except concurrent.futures.TimeoutError:
                    continue
        except concurrent.futures.TimeoutError:
            future.cancel()
            self.close()
            raise timed_out(self.progress, started, timeout, step, self.console) from None
        except PlaywrightError as e:
            text = str(e)
            message, _, stack = text.partition("\n")
            at = self.progress[0] if self.progress else None
            if "promise was garbage collected" in message.lower():
                # Chromium drops a pending Promise nothing can ever resolve (a user op that
                # returns `new Promise(() => {})`): as good as a hang, said as what it is
                kind, _, name = (at or "").partition(" ")
                what = f"step {name!r}" if kind in ("step", "repeat") else "the page's code"
                message = (
                    f"js: {what} returned a Promise that can never settle (nothing holds its "
                    "resolve; Chromium garbage-collected it)"
                )
            if self.crashed:
                where = f" at {at}" if at else ""
                message = (
                    f"the page crashed{where} (its renderer process died: out of memory, or "
                    f"killed): {message}"
                )
            raise PageError(
                message, stack=stack or None, console=self.console[-20:], at=at
            ) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._driver._loop.run(self._page.close(), timeout=10)


class ChromiumDriver:
    """Debian's Chromium through Playwright, launched once and shared by every page."""

    name = "chromium"

    def __init__(
        self,
        executable: str = CHROMIUM_PATH,
        extra_args: tuple[str, ...] = (),
        launch_timeout: float = 60.0,
        connect: dict[str, Any] | None = None,
    ) -> None:
        """Launches Debian's Chromium; with `connect` (Playwright's connect options, e.g.
        {"ws_endpoint": "ws://host:3000/"}), uses the Chromium of that Playwright server, and
        asks it for the harness's flags (a server started with `run-server --unsafe` applies
        them; another drops them, and the probe shows what the browser then can do)."""
        self._loop = Loop()
        self._disconnected = False
        self.remote = connect is not None
        args = [*QUIET_ARGS, *WEBGPU_ARGS, *extra_args]
        if connect is None:
            require_chromium(executable)
            if os.geteuid() == 0:
                args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        before = {p.pid for p in _own_browsers()}
        where = shown(ws_endpoint(connect)) if connect else executable
        try:
            self._pw, self._browser = self._loop.run(
                self._start(executable, args, connect), launch_timeout
            )
        except Exception as e:
            self._loop.stop()
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            text = redact(text)  # Playwright repeats the endpoint, credentials and all
            if isinstance(e, TimeoutError | concurrent.futures.TimeoutError):
                text = f"no answer within {launch_timeout:.0f} s" + (
                    " from the Playwright server" if connect else ""
                )
            if connect and "executable doesn't exist" in text.lower():
                text += f"; {_missing_executable(connect)}"
            raise BrowserUnavailable(f"Chromium ({where}) did not start: {text}") from e
        self.version = (
            f"Chromium {self._browser.version}" if connect else chromium_version(executable)
        )
        # its main process (launches are one at a time): what close(kill=True) ends at once
        self._processes = [] if connect else [p for p in _own_browsers() if p.pid not in before]

    async def _start(
        self, executable: str, args: list[str], connect: dict[str, Any] | None
    ) -> tuple[Any, Any]:
        from playwright.async_api import async_playwright

        pw = await async_playwright().start()
        try:
            if connect is None:
                browser = await pw.chromium.launch(
                    executable_path=executable, args=args, headless=True
                )
            else:
                options = {k: v for k, v in connect.items() if k not in ("ws_endpoint", "headers")}
                options["endpoint"], headers = with_launch_options(
                    ws_endpoint(connect), connect.get("headers") or {}, args
                )
                browser = await pw.chromium.connect(**options, headers=headers)
        except Exception:
            await pw.stop()
            raise
        browser.on("disconnected", lambda _b: setattr(self, "_disconnected", True))
        return pw, browser

    @property
    def alive(self) -> bool:
        """False once the browser process exited or its Playwright driver did (then every
        call fails: the harness starts a new browser)."""
        if self._disconnected or self._loop.stopped:
            return False
        try:
            return bool(self._loop.run(self._is_connected(), timeout=5))
        except Exception:
            return False

    async def _is_connected(self) -> bool:
        """A round trip through the driver to the browser: `is_connected()` alone is a flag
        that stays true when the Playwright driver process died."""
        if not self._browser.is_connected():
            return False
        if self.remote:  # a Playwright server's browser: its connection says
            return True
        session = await self._browser.new_browser_cdp_session()
        await session.detach()
        return True

    def open_page(self, url: str, timeout: float = 60.0) -> PlaywrightPage:
        async def _open() -> PlaywrightPage:
            page = PlaywrightPage(self, await self._browser.new_page())
            page.listen()
            await page._page.goto(url, wait_until="load", timeout=timeout * 1000)
            await page._page.wait_for_function(
                "window.parity !== undefined", timeout=timeout * 1000
            )
            page.prefix = await page._page.evaluate("window.parityConsole.prefix")
            return page

        from playwright.async_api import Error as PlaywrightError

        try:
            return self._loop.run(_open(), timeout + 5)
        except concurrent.futures.TimeoutError:
            raise PageTimeout(f"a new page did not load within {timeout:.0f} s") from None
        except PlaywrightError as e:
            raise PageError(
                f"a new page could not open: {redact(str(e).splitlines()[0])}"
            ) from None

    def close(self, timeout: float = 30.0, kill: bool = False) -> None:
        """Close the browser (its pages' calls in flight end with an error) and the driver;
        bounded by `timeout` seconds, after which the loop is stopped regardless. `kill`
        (the run is stopping on a signal): the browser's main process is killed first, as a
        browser busy computing takes seconds to close gracefully (4 s measured, a model run)."""
        if kill:
            for process in self._processes:
                with contextlib.suppress(Exception):  # psutil checks it is still that process
                    process.kill()

        async def _close() -> None:
            await self._browser.close()
            await self._pw.stop()

        try:
            self._loop.run(_close(), timeout=timeout)
        except Exception:  # a browser or driver already gone: nothing left to close
            pass
        finally:
            self._loop.stop()


def _missing_executable(connect: dict[str, Any]) -> str:
    """Why a Playwright server found no Chromium to launch: the executablePath the user gave
    is not on that machine, or the server dropped it (playwright-core's
    remote/playwrightServer.ts, filterLaunchOptions: without --unsafe a server drops a
    client's executablePath, args and chromiumSandbox) and has no build of its own."""
    with contextlib.suppress(ValueError):
        given, _ = launch_options(ws_endpoint(connect), connect.get("headers") or {})
        if given.get("executablePath"):
            return (
                "the Playwright server has no Chromium at the executablePath given, or (started "
                "without --unsafe) it dropped that path and its own build is not installed "
                "there. Check the path on the server's machine, start it with `playwright "
                "run-server --unsafe`, or install its browser there"
            )
    return (
        "the Playwright server launched a Chromium build of its own, which is not installed "
        "there: give launch options with an executablePath (a server started with --unsafe "
        "takes them), or install its browser there (`playwright install chromium`)"
    )


def with_launch_options(
    endpoint: str, headers: dict[str, str], args: list[str]
) -> tuple[str, dict[str, str]]:
    """The endpoint and headers that ask a Playwright server for headless Chromium with `args`
    besides the launch options the user gave (in the header, or the endpoint's `launch-options`
    parameter, which the server reads first): theirs win, their args come after ours."""
    theirs, in_endpoint = launch_options(endpoint, headers)
    merged = {"headless": True, **theirs, "args": [*args, *theirs.get("args", [])]}
    headers = {**headers, LAUNCH_OPTIONS: json.dumps(merged)}
    if in_endpoint:
        parts = urllib.parse.urlsplit(endpoint)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query = [(k, json.dumps(merged) if k == "launch-options" else v) for k, v in query]
        endpoint = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return endpoint, headers


def _own_browsers() -> list[Any]:
    """This process's Chromium main processes (children of its Playwright drivers), as
    psutil.Process objects."""
    import psutil

    found = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "chrom" in p.name() and not any(a.startswith("--type=") for a in p.cmdline()):
                found.append(p)
    return found
