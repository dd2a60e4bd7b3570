"""Bad input and broken pages in a real browser: clear errors, nothing gathered is lost."""

import re
import time
from pathlib import Path

import numpy as np
import pytest

from harness.orchestrate.suite import bundled_case
from harness.runtimes.browser import hooks_for_tests
from harness.runtimes.browser_session import start_backend
from harness.runtimes.driver import PageTimeout
from harness.specs.op_schemas import SCHEMAS
from harness.specs.spec import parse
from harness.specs.variants import parse_variant

pytestmark = pytest.mark.parity

NORMALIZE = {"op": "normalize", "params": {"mean": "$mean", "std": "$std"}}
REPO_SCAN = Path(__file__).parent.parent / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm"


@pytest.fixture
def chromium(parity_harness):
    return parity_harness.session("chromium")


@pytest.fixture
def fresh_page(parity_harness, chromium):
    page = chromium.driver.open_page(f"{parity_harness.server.origin}/index.html")
    yield page
    page.close()


def test_parity_js_catalogue_mirrors_python(fresh_page):
    assert sorted(fresh_page.evaluate(f"() => {hooks_for_tests(fresh_page)}.ops()")) == sorted(
        SCHEMAS
    )


def test_parity_js_exception_reaches_the_user_and_earlier_stages_are_kept(parity_harness):
    pipeline = parse(
        {
            "name": "bad-js",
            "steps": [
                NORMALIZE,
                {
                    "op": "resize",
                    "params": {"size": [64, 64]},
                    "js": {"method": "nearest", "align_corners": True, "half_pixel_centers": True},
                },
                {"op": "tile", "params": {"reps": [1, 1, 3]}},
            ],
        }
    )
    run = parity_harness.run(pipeline, bundled_case("examples_overlay"), "chromium", "cpu")
    assert run.status == "error"
    assert "resize: JS exception" in run.reason and "halfPixelCenters" in run.reason
    verdicts = {s.name: s.verdict for s in run.stages}
    assert verdicts == {"input": "pass", "normalize": "pass", "resize": "fail", "tile": "not_run"}
    assert run.first_divergence == "resize"


def test_parity_shape_mismatch_is_a_failed_stage_not_a_crash(parity_harness):
    pipeline = parse(
        {
            "name": "shapes",
            "steps": [
                NORMALIZE,
                {"op": "expand_dims", "python": {"axis": -1}, "js": {"axis": 0}},
            ],
        }
    )
    run = parity_harness.run(pipeline, bundled_case("examples_overlay"), "chromium", "cpu")
    assert run.status == "ok"
    assert run.first_divergence == "expand_dims"
    stage = run.stages[-1]
    assert stage.message == "shape differs: python [300, 484, 1, 1] vs js [1, 300, 484, 1]"


def test_parity_silent_backend_fallback_is_refused(fresh_page, parity_harness):
    # Make WebGL unable to start: TF.js then quietly runs another backend.
    fresh_page.evaluate(
        """() => { for (const c of [HTMLCanvasElement, globalThis.OffscreenCanvas]) {
            if (c) c.prototype.getContext = () => null; } }"""
    )
    info = start_backend(fresh_page, parse_variant("webgl"), parity_harness.server.token)
    assert info.status == "error"
    assert info.reason.startswith("asked for webgl but TF.js is running")
    assert "silent fallback refused" in info.reason


def test_parity_webgpu_without_an_adapter_is_skipped_with_the_reason(fresh_page, parity_harness):
    fresh_page.evaluate("() => { navigator.gpu.requestAdapter = async () => null; }")
    info = start_backend(fresh_page, parse_variant("webgpu"), parity_harness.server.token)
    assert info.status == "skipped"
    assert info.reason == (
        "webgpu is not available in this browser: this browser has WebGPU but "
        "navigator.gpu.requestAdapter() gave no adapter"
    )


def test_parity_unsupported_browser_is_an_error_run_and_others_go_on(parity_harness):
    pipeline = parse({"name": "n", "steps": [NORMALIZE]})
    case = bundled_case("examples_overlay")
    bad = parity_harness.run(pipeline, case, "netscape", "cpu")
    assert bad.status == "error" and "unknown browser 'netscape'" in bad.reason
    good = parity_harness.run(pipeline, case, "chromium", "cpu")
    assert good.passed


def test_parity_hung_page_times_out_and_the_browser_lives_on(parity_harness, chromium):
    page = chromium.driver.open_page(f"{parity_harness.server.origin}/index.html")
    t0 = time.perf_counter()
    with pytest.raises(PageTimeout, match="js: the page did not answer within 2 s"):
        page.evaluate("() => { while (true) {} }", timeout=2)
    assert time.perf_counter() - t0 < 15
    other = chromium.driver.open_page(f"{parity_harness.server.origin}/index.html")
    assert other.evaluate("() => 1 + 1") == 2
    other.close()


def test_parity_page_cannot_upload_without_the_token(fresh_page):
    status = fresh_page.evaluate(
        """async () => (await fetch('/upload/x/y', {
            method: 'POST',
            body: new Blob([new Float32Array(2)]),
            headers: {'X-Parity-Dtype': 'float32', 'X-Parity-Shape': '2'},
        })).status"""
    )
    assert status == 403


@pytest.mark.parametrize(
    ("js", "dtype", "expected"),
    [
        ("new Float32Array([1.5, -0, NaN, Infinity])", "float32", [1.5, -0.0, np.nan, np.inf]),
        ("new Int32Array([-2147483648, 7])", "int32", [-(2**31), 7]),
        ("new Uint8Array([0, 255])", "uint8", [0, 255]),
        ("tf.tensor([true, false, true]).dataSync()", "bool", [True, False, True]),
    ],
)
def test_parity_tensors_come_back_as_raw_bytes_with_dtype_and_shape(
    fresh_page, parity_harness, js, dtype, expected
):
    got = uploaded_raw(fresh_page, parity_harness, js, dtype)
    np.testing.assert_array_equal(got, np.array(expected, dtype=dtype))


def uploaded_raw(page, parity_harness, js: str, dtype: str) -> np.ndarray:
    """The typed array `js` makes in the page (cpu backend), as it reaches the harness through
    the page's upload: an array of `dtype`, asserted."""
    hooks = hooks_for_tests(page)
    page.evaluate(
        f"""async () => {{
            await window.parity.init({{backend: 'cpu', flags: {{}},
                                       token: '{parity_harness.server.token}'}});
            const data = {js};
            await {hooks}.upload('raw/{dtype}', '{dtype}', [data.length], data);
        }}"""
    )
    got = parity_harness.server.uploads.take(f"raw/{dtype}").to_numpy()
    assert str(got.dtype) == dtype
    return got


@pytest.mark.parametrize(
    ("a", "b", "identical", "max_abs"),
    [
        ("new Float32Array([1, 2])", "new Float32Array([1, 2])", True, 0),
        ("new Float32Array([1, 2])", "new Float32Array([1, 2.5])", False, 0.5),
        ("new Float32Array([0])", "new Float32Array([-0])", False, 0),  # bits differ, values not
        ("new Float32Array([NaN])", "new Float32Array([1])", False, float("inf")),
        ("new Int32Array([1])", "new Float32Array([1])", False, float("inf")),
    ],
)
def test_parity_repeat_comparison_is_bitwise(fresh_page, a, b, identical, max_abs):
    got = fresh_page.evaluate(
        f"() => {{ const d = {hooks_for_tests(fresh_page)}.difference({a}, {b});"
        " return [d.identical, d.max_abs === Infinity ? 'inf' : d.max_abs]; }"
    )
    assert got == [identical, "inf" if max_abs == float("inf") else max_abs]


BAD_OPS = """
import numpy as np

def bad(x, kind):
    return {"none": None, "str": "hello", "dict": {"a": 1},
            "complex": np.asarray(x, dtype=np.complex64),
            "int64": np.full(np.shape(x), 2**40, dtype=np.int64),
            "float128": np.asarray(x, dtype=np.longdouble),
            "ok": np.asarray(x, dtype=np.float32)}[kind]
"""
BAD_OPS_JS = """
export function bad(x, settings) { return x.toFloat(); }
export function strings(x, settings) { return tf.tensor(['a', 'b']); }
export function throwsString(x, settings) { throw 'plain string'; }
export async function rejectsUndefined(x, settings) { return Promise.reject(undefined); }
"""


@pytest.mark.parametrize(
    "kind, said",
    [
        ("none", "returned None: an op returns its output"),
        ("str", "returned a str: an op returns a numpy array or a TF tensor"),
        ("dict", "returned a dict"),
        ("complex", "returned complex64 values: TF.js holds float32, int32 and bool only"),
        ("int64", "returned int64 values outside int32 (e.g. 1099511627776)"),
        ("float128", "returned float128 values: the page is fed float32"),
    ],
)
def test_a_users_python_op_returning_what_cannot_be_compared_is_said(kind, said):
    from harness.runtimes.python_ref import OpOutputError, op_output

    ops = {}
    exec(BAD_OPS, ops)
    with pytest.raises(OpOutputError, match=re.escape(f"step 'b' (python op 'bad') {said}")):
        op_output(ops["bad"](np.arange(4.0), kind), "b", "bad")
    assert op_output(ops["bad"](np.arange(4.0), "ok"), "b", "bad").dtype == np.float32


def bad_op_run(parity_harness, tmp_path, js_export: str, kind: str):
    """decode, then step `b`: the Python op `bad` (returning `kind`), the JS op `js_export`."""
    from harness.specs.spec import load

    (tmp_path / "web").mkdir()
    (tmp_path / "my_ops.py").write_text(BAD_OPS)
    (tmp_path / "web" / "ops.js").write_text(BAD_OPS_JS)
    spec = {
        "name": "bad-op",
        "ops": {"bad": {"python": "my_ops.py:bad", "js": f"web/ops.js#{js_export}"}},
        "steps": [{"op": "decode"}, {"name": "b", "op": "bad", "params": {"kind": kind}}],
        "cases": [{"file": str(REPO_SCAN)}],
    }
    (tmp_path / "p.json").write_text(__import__("json").dumps(spec))
    pipeline = load(tmp_path / "p.json")
    return parity_harness.run(pipeline, pipeline.cases[0].load(), "chromium", "wasm")


def test_parity_a_bad_python_op_is_that_cases_error_at_its_step(parity_harness, tmp_path):
    """None from the user's op: the case's run is an error at that step, naming the side and
    what came back, never a failed stage."""
    run = bad_op_run(parity_harness, tmp_path, "bad", "none")
    assert run.status == "error" and "b: step 'b' (python op 'bad') returned None" in run.reason
    assert not any(s.hints for s in run.stages)  # nothing to explain: nothing was compared
    assert next(s for s in run.stages if s.name == "b").verdict == "error"


@pytest.mark.parametrize(
    ("js_export", "said"),
    [
        ("throwsString", "JS exception: plain string"),
        ("rejectsUndefined", "JS exception: undefined"),
    ],
)
def test_parity_a_js_op_throwing_what_is_no_error_is_said_at_its_step(
    parity_harness, tmp_path, js_export, said
):
    """JS code may throw a string, null or undefined: the run says it at the step that threw."""
    run = bad_op_run(parity_harness, tmp_path, js_export, "ok")
    assert f"b: {said}" in run.reason, run.reason
    stages = {s.name: s for s in run.stages}
    assert stages["decode"].verdict == "pass" and said in stages["b"].message


def test_parity_a_js_op_returning_a_string_tensor_is_that_steps_error(parity_harness, tmp_path):
    run = bad_op_run(parity_harness, tmp_path, "strings", "ok")
    assert run.status == "error" and "b: JS exception: a string tensor cannot be compared" in (
        run.reason
    )
    stages = {s.name: s for s in run.stages}
    assert stages["b"].verdict == "error" and stages["decode"].verdict == "pass"


SLOW_OPS = """
import time
import numpy as np

def slow(x, seconds):
    time.sleep(seconds)
    return np.asarray(x, dtype=np.float32)

def fine(x):
    return np.asarray(x, dtype=np.float32)

def busy(x, n):
    sum(range(n))  # one C call: holds the GIL until it returns
    return np.asarray(x, dtype=np.float32)
"""
SLOW_OPS_JS = """
export function slow(x, { seconds }) { return x.toFloat(); }
export function fine(x) {
  console.debug = () => {};  // silenced by the user's code: the page's marks still get out
  return x.toFloat();
}
export function hang(x) {
  console.debug('parity:step first');  // looks like a progress mark, is the op's own output
  const end = Date.now() + 600000; while (Date.now() < end) {} return x;
}
"""


def slow_pipeline(tmp_path, steps, timeout=2):
    from harness.specs.spec import load

    (tmp_path / "web").mkdir(exist_ok=True)
    (tmp_path / "my_ops.py").write_text(SLOW_OPS)
    (tmp_path / "web" / "ops.js").write_text(SLOW_OPS_JS)
    ops = {
        name: {"python": f"my_ops.py:{py}", "js": f"web/ops.js#{js}"}
        for name, py, js in (("slow", "slow", "slow"), ("fine", "fine", "fine"),
                             ("hang", "fine", "hang"), ("busy", "busy", "slow"))
    }  # fmt: skip
    spec = {"name": "slow", "ops": ops, "timeout": timeout, "steps": [{"op": "decode"}, *steps],
            "cases": [{"file": str(REPO_SCAN)}]}  # fmt: skip
    path = tmp_path / "p.json"
    path.write_text(__import__("json").dumps(spec))
    return load(path)


def test_parity_a_step_past_the_timeout_is_an_error_at_that_step_on_its_side(
    parity_harness, tmp_path
):
    """The pipeline's `timeout` bounds each step on each side: a JS op that hangs is an error
    at its step naming js and the limit (neither a line it logs that looks like a progress
    mark nor an earlier op silencing console.debug moves it), a Python op that sleeps one
    naming python; the page is replaced, and the next case runs (here: the next run)."""
    hang = slow_pipeline(
        tmp_path, [{"name": "first", "op": "fine"}, {"name": "stuck", "op": "hang"}]
    )
    t0 = time.perf_counter()
    run = parity_harness.run(hang, hang.cases[0].load(), "chromium", "wasm")
    assert run.status == "error"
    assert "stuck: js: step 'stuck' did not finish within 2 s (--timeout)" in run.reason
    stuck = next(s for s in run.stages if s.name == "stuck")
    assert stuck.verdict == "error" and stuck.own_error_class is None
    assert all(s.verdict != "fail" for s in run.stages)  # no class of the user's numbers
    # the page was closed, but it had sent the stages before the hang as their steps ended
    assert [s.verdict for s in run.stages if s.name in ("input", "decode", "first")] == ["pass"] * 3
    assert time.perf_counter() - t0 < 60
    sleepy = slow_pipeline(tmp_path, [{"name": "nap", "op": "slow", "params": {"seconds": 30}}])
    run = parity_harness.run(sleepy, sleepy.cases[0].load(), "chromium", "wasm")
    assert run.status == "error"
    assert "step 'nap' (python op 'slow') did not finish within 2 s (--timeout)" in run.reason
    nap = next(s for s in run.stages if s.name == "nap")
    assert nap.verdict == "error"  # no numbers to judge: not a failed stage
    fine = slow_pipeline(tmp_path, [{"name": "ok", "op": "fine"}])
    assert parity_harness.run(fine, fine.cases[0].load(), "chromium", "wasm").passed


def test_parity_a_python_op_holding_the_gil_past_the_timeout_is_an_error(parity_harness, tmp_path):
    """One long C call holds the GIL, so the clock cannot be read until it returns: it is
    still an error once it does, and its budget is not re-run five times."""
    t0 = time.perf_counter()
    busy = slow_pipeline(
        tmp_path, [{"name": "b", "op": "busy", "params": {"n": 60_000_000}}], timeout=0.2
    )
    run = parity_harness.run(busy, busy.cases[0].load(), "chromium", "wasm")
    assert run.status == "error"
    assert "b: step 'b' (python op 'busy') did not finish within 0.2 s (--timeout): it took" in (
        run.reason
    )
    assert "holding Python's GIL" in run.reason
    assert time.perf_counter() - t0 < 20


def own_browser_processes():
    """The newest Chromium main process and Playwright driver among this test process's
    children (the session's own harness has older ones)."""
    import psutil

    mine = psutil.Process().children(recursive=True)
    browser = [p for p in mine if "chromium" in p.name() and "--type=" not in " ".join(p.cmdline())]
    driver = [p for p in mine if "run-driver" in " ".join(p.cmdline())]
    newest = sorted(browser, key=lambda p: p.create_time())[-1:]
    return newest, sorted(driver, key=lambda p: p.create_time())[-1:]


@pytest.mark.parametrize("victim", ["browser", "driver"])
def test_parity_a_dead_browser_is_that_runs_error_and_the_next_run_starts_a_new_one(
    tmp_path, victim
):
    """Killing the browser process (or the Playwright driver) by its PID while a step runs:
    that run is an error saying the browser exited, a new browser is started once, and the
    next run passes. Its own Harness: the session's browser is killed."""
    import signal as signals
    import threading

    from harness.orchestrate.orchestrator import Harness

    slow = slow_pipeline(tmp_path, [{"name": "wait", "op": "slow", "params": {"seconds": 0}}])
    sleepy_js = SLOW_OPS_JS.replace(
        "export function slow(x, { seconds }) { return x.toFloat(); }",
        "export async function slow(x) { await new Promise((r) => setTimeout(r, 4000)); "
        "return x.toFloat(); }",
    )
    (tmp_path / "web" / "ops.js").write_text(sleepy_js)
    case = slow.cases[0].load()
    with Harness(isolated=False, repeat=False, timeout=60) as harness:
        assert harness.run(slow, case, "chromium", "wasm").passed  # the browser is up
        browser, driver = own_browser_processes()
        target = (browser if victim == "browser" else driver)[0]
        threading.Timer(1.5, lambda: target.send_signal(signals.SIGKILL)).start()
        died = harness.run(slow, case, "chromium", "wasm")
        assert died.status == "error" and "the browser process exited" in died.reason, died.reason
        # the stages the page had sent before the browser died are still compared
        assert next(s for s in died.stages if s.name == "decode").verdict == "pass"
        after = harness.run(slow, case, "chromium", "wasm")
        assert after.passed, after.reason
        assert harness.browsers.restarts == {"chromium": 1}


def hangs_on_second_call(tmp_path):
    """decode, `first`, then `stuck`, whose JS hangs on its second call only (a counter in its
    module: the repeat pass, or the isolated pass when there is none)."""
    pipeline = slow_pipeline(
        tmp_path, [{"name": "first", "op": "fine"}, {"name": "stuck", "op": "hang"}]
    )
    hang_second = (
        "let calls = 0;\n"
        "export async function hang(x) { calls += 1; "
        "if (calls === 2) await new Promise(() => {}); return x; }\n"
    )
    js = SLOW_OPS_JS.split("export function hang")[0] + hang_second
    (tmp_path / "web" / "ops.js").write_text(js)
    return pipeline


def test_parity_a_hang_in_the_isolated_pass_keeps_what_the_chained_pass_computed(
    parity_harness, tmp_path, monkeypatch
):
    """The step hangs only on its second call (the isolated pass): its page is closed with the
    chained stages it held, so the chained pass runs again on a fresh page; every stage is
    compared end to end, and the hang is that step's isolated error, drawn `!`."""
    from harness.report.wording import cell

    pipeline = hangs_on_second_call(tmp_path)
    monkeypatch.setattr(parity_harness, "repeat", False)  # the second call: the isolated one
    run = parity_harness.run(pipeline, pipeline.cases[0].load(), "chromium", "wasm")
    assert run.status == "error"
    assert "stuck (isolated run): js: step 'stuck' did not finish within 2 s" in run.reason
    stages = {s.name: s for s in run.stages}
    assert all(s.verdict == "pass" for s in stages.values()), run.reason  # chained: all kept
    assert stages["stuck"].own_verdict == "error" and cell(stages["stuck"]).startswith("!")
    # the isolated pass's own stages went with its page: not judged, never a pass
    assert stages["first"].own_verdict is None


def test_parity_a_hang_in_the_repeat_pass_keeps_the_chained_pass_and_says_repeat(
    parity_harness, tmp_path, monkeypatch
):
    """The step hangs on its second call: the repeat pass (the chained steps run again to
    check determinism). The chained stages are compared all the same, from a chained pass run
    again on a fresh page, and the error says it was the repeat pass."""
    pipeline = hangs_on_second_call(tmp_path)
    monkeypatch.setattr(parity_harness, "repeat", True)
    monkeypatch.setattr(parity_harness, "isolated", False)
    run = parity_harness.run(pipeline, pipeline.cases[0].load(), "chromium", "wasm")
    assert run.status == "error"
    said = "stuck (repeat pass): js: step 'stuck' in the repeat pass did not finish within 2 s"
    assert said in run.reason, run.reason
    assert all(s.verdict == "pass" for s in run.stages), run.reason  # chained: all compared
    assert run.deterministic is None  # not known: the repeat pass did not finish


def test_parity_stages_lost_with_a_hung_page_are_errors_not_stages_that_never_ran(
    parity_harness, tmp_path, monkeypatch
):
    """Nothing sent early (as if every stage were past the first 8 MB): the page hangs at
    `stuck`, and the stages it computed before are errors saying they were lost with it."""
    from harness.runtimes import browser

    monkeypatch.setattr(browser, "BATCH_BYTES", 0)
    hang = slow_pipeline(
        tmp_path, [{"name": "first", "op": "fine"}, {"name": "stuck", "op": "hang"}]
    )
    run = parity_harness.run(hang, hang.cases[0].load(), "chromium", "wasm")
    stages = {s.name: s for s in run.stages}
    assert stages["stuck"].verdict == "error" and "did not finish" in stages["stuck"].message
    for name in ("input", "decode", "first"):
        assert stages[name].verdict == "error", name
        assert "computed by js, but lost when js failed at 'stuck'" in stages[name].message
