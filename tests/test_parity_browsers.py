"""Firefox and WebKit over WebDriver: the same page calls, timeouts, raw tensors, fallback check and
verdicts as Chromium. Each test is skipped, with the reason, where its browser cannot run here."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from harness.core.results import Report
from harness.runtimes.browser_session import start_backend
from harness.runtimes.driver import BrowserUnavailable, PageError, PageTimeout
from harness.specs.variants import parse_variant
from tests.test_pairs import planted_fault_project, tfjs_parity
from tests.test_parity_errors import uploaded_raw

pytestmark = pytest.mark.parity

WEBDRIVER_BROWSERS = ("firefox", "webkit")


@pytest.fixture(params=WEBDRIVER_BROWSERS)
def browser(request, parity_harness) -> str:
    """A WebDriver browser that starts here, else the test is skipped saying why."""
    try:
        parity_harness.session(request.param)
    except BrowserUnavailable as e:
        pytest.skip(f"{request.param} cannot run here: {e}")
    return request.param


@pytest.fixture
def page(parity_harness, browser):
    driver = parity_harness.session(browser).driver
    try:
        opened = driver.open_page(f"{parity_harness.server.origin}/index.html")
    except BrowserUnavailable as e:
        pytest.skip(f"{browser} cannot run here: {e}")
    yield opened
    opened.close()


def test_parity_webdriver_page_calls_keep_values_errors_console_and_marks(page):
    got = page.evaluate("(x) => ({nan: NaN, inf: [-Infinity, x * 2], none: undefined})", 21)
    assert np.isnan(got["nan"]) and got["inf"] == [-np.inf, 42] and got["none"] is None
    assert page.evaluate("[1, 2].length") == 2  # an expression, not a function
    slow = (
        "async () => { window.parityConsole.progress('step two');"
        " console.warn('careful'); console.debug('parity:step fake');"
    )
    assert page.evaluate(slow + " await new Promise(r => setTimeout(r, 1200)); return 7; }") == 7
    assert page.progress[0] == "step two"  # the mark came while the call ran
    assert "[warning] careful" in page.console
    # a line that only looks like a mark (the user's code logged it) is console output
    assert "[debug] parity:step fake" in page.console
    with pytest.raises(PageError) as e:
        page.evaluate("() => { function deep() { throw new TypeError('boom'); } deep(); }")
    assert str(e.value) == "TypeError: boom" and "deep" in e.value.stack
    with pytest.raises(PageError, match="uncaught: plain"):
        page.evaluate("async () => { throw 'plain'; }")


def test_parity_webdriver_hung_page_is_killed_and_the_next_page_opens(parity_harness, browser):
    driver = parity_harness.session(browser).driver
    page = driver.open_page(f"{parity_harness.server.origin}/index.html")
    t0 = time.perf_counter()
    with pytest.raises(PageTimeout, match="js: the page did not answer within 2 s"):
        page.evaluate("() => { while (true) {} }", timeout=2)
    assert time.perf_counter() - t0 < 15
    with pytest.raises(PageError, match="closed"):
        page.evaluate("() => 1")
    t0 = time.perf_counter()
    with pytest.raises(PageTimeout, match="js: step 'spin' did not finish within 2 s"):
        other = driver.open_page(f"{parity_harness.server.origin}/index.html")
        other.evaluate(
            "async () => { const c = window.parityConsole; c.progress('step spin');"
            " await c.settle(); while (true) {} }",
            timeout=60,
            step=2,
        )
    assert time.perf_counter() - t0 < 25
    again = driver.open_page(f"{parity_harness.server.origin}/index.html")
    assert again.evaluate("() => 1 + 1") == 2
    again.close()


@pytest.mark.parametrize(
    ("js", "dtype", "expected"),
    [
        ("new Float32Array([1.5, -0, NaN, Infinity])", "float32", [1.5, -0.0, np.nan, np.inf]),
        ("new Int32Array([-2147483648, 7])", "int32", [-(2**31), 7]),
        ("tf.tensor([true, false, true]).dataSync()", "bool", [True, False, True]),
    ],
)
def test_parity_webdriver_tensors_come_back_as_raw_bytes(page, parity_harness, js, dtype, expected):
    got = uploaded_raw(page, parity_harness, js, dtype)
    np.testing.assert_array_equal(got, np.array(expected, dtype=dtype))
    assert np.signbit(got[1]) if dtype == "float32" else True  # -0 kept bit for bit


def test_parity_webdriver_silent_fallback_is_refused(page, parity_harness):
    # No WebGL context: TF.js would quietly run webgl's work on another backend. Changed by a
    # script of the page's own (Firefox runs WebDriver's scripts in a sandbox of their own).
    page.evaluate(
        """() => {
            const s = document.createElement('script');
            s.textContent = `for (const c of [HTMLCanvasElement, globalThis.OffscreenCanvas]) {
                if (c) c.prototype.getContext = () => null; }`;
            document.head.appendChild(s);
        }"""
    )
    info = start_backend(page, parse_variant("webgl"), parity_harness.server.token)
    assert info.status == "error"
    assert info.reason.startswith("asked for webgl but TF.js is running")
    assert "silent fallback refused" in info.reason


def test_parity_webdriver_browser_lacking_webgpu_is_skipped_with_the_reason(
    parity_harness, browser
):
    info = parity_harness.session(browser).probe("webgpu")
    if info.status == "ok":
        pytest.skip(f"{browser} has WebGPU here")  # nothing to say about a missing one
    assert info.status == "skipped", info.reason
    assert info.reason.startswith("webgpu is not available in this browser: ")


def test_parity_webdriver_runs_compare_and_a_planted_fault_fails_where_it_is(browser, tmp_path):
    """The CLI on this browser: a step off by one on cpu fails there and nowhere else; the same
    pipeline on wasm passes. What each page computed is its own (the browser is in the row)."""
    planted_fault_project(tmp_path / "p.json")
    args = ("run", "p.json", "--browser", browser, "--backend", "cpu", "--backend", "wasm")
    done = tfjs_parity(*args, "--no-repeat", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    report = Report.from_dict(json.loads((tmp_path / "out" / "report.json").read_text()))
    runs = {run.backend: run for _, run in report.all_runs()}
    assert {run.browser for run in runs.values()} == {browser}
    assert runs["wasm"].passed, runs["wasm"].reason
    cpu = runs["cpu"]
    assert cpu.status == "ok" and cpu.first_divergence == "second"
    second = next(s for s in cpu.stages if s.name == "second")
    assert second.verdict == "fail" and second.chained.max_abs == 1.0
    backends = report.environment["browsers"][browser]["backends"]
    assert backends["cpu"]["active"] == "cpu" and backends["wasm"]["active"] == "wasm"
    label = {"firefox": "Firefox ", "webkit": "WebKitGTK "}[browser]
    assert report.environment["browsers"][browser]["version"].startswith(label)


def test_parity_webdriver_page_against_another_browsers_page(browser, tmp_path):
    """`--reference chromium:cpu` with this browser's wasm as the candidate: the step off by one
    on cpu pages (Chromium's here) is where the two browsers part; the step before agrees to
    the bit (the same float32 op on both)."""
    planted_fault_project(tmp_path / "p.json")
    args = ("run", "p.json", "--browser", browser, "--backend", "wasm", "--no-repeat")
    done = tfjs_parity(*args, "--reference", "chromium:cpu", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    report = Report.from_dict(json.loads((tmp_path / "out" / "report.json").read_text()))
    ((_, run),) = report.all_runs()
    assert (run.browser, run.backend, run.reference) == (browser, "wasm", "chromium:cpu")
    assert run.first_divergence == "second"
    stages = {s.name: s for s in run.stages}
    assert stages["first"].chained.max_abs == 0.0
    assert stages["second"].verdict == "fail" and stages["second"].chained.max_abs == 1.0
    assert set(report.environment["browsers"]) == {"chromium", browser}


def test_parity_pytest_skips_a_backend_the_browser_lacks_unless_it_was_named(pytester, browser):
    """`--parity-browser webkit` with the default backends: webgpu, which WebKitGTK lacks, is a
    skipped test saying why, not a failure; named with --parity-backend, it is an error."""
    pytester.makepyfile(
        test_user="""
import pytest
from harness.specs.spec import parse

@pytest.mark.parity
@pytest.mark.parity_backends("cpu", "webgpu")
def test_scaled(parity_run, assert_parity):
    pipeline = parse({"name": "s", "steps": [
        {"op": "normalize", "params": {"mean": 0.0, "std": 2.0}}]})
    assert_parity(parity_run(pipeline, "examples_overlay"))
"""
    )
    result = pytester.runpytest_subprocess("--parity-browser", browser, "-rs")
    if result.parseoutcomes().get("passed") == 2:
        pytest.skip(f"{browser} has WebGPU here: nothing lacking to skip")
    result.assert_outcomes(passed=1, skipped=1)
    # said at the user's test, not at the plugin's line that raised it
    result.stdout.fnmatch_lines(["SKIPPED * test_user.py:4: webgpu is not available in this*"])
    named = pytester.runpytest_subprocess("--parity-browser", browser, "--parity-backend", "webgpu")
    named.assert_outcomes(failed=1)


KILLED = """
import sys, time
from harness.runtimes.browsers import launch
from harness.orchestrate.orchestrator import Harness
with Harness() as h:
    driver = launch(sys.argv[1])
    page = driver.open_page(f"{h.server.origin}/index.html")
    print(page._session.service.process.pid, driver._display._process.pid, flush=True)
    time.sleep(600)
"""


def test_parity_webdriver_browsers_die_with_a_killed_harness(browser, tmp_path):
    """SIGKILL (or a crashed xdist worker) runs no teardown: the watchdog ends the browser, its
    driver and its display all the same."""
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED, browser], stdout=subprocess.PIPE, text=True
    )
    driver_pid, display_pid = map(int, process.stdout.readline().split())
    os.kill(driver_pid, 0)  # running
    process.kill()
    process.wait(10)
    deadline = time.monotonic() + 10
    left = [driver_pid, display_pid]
    while left and time.monotonic() < deadline:
        left = [pid for pid in left if psutil.pid_exists(pid) and _running(pid)]
        time.sleep(0.2)
    assert not left, f"still running after the harness was killed: {left}"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
