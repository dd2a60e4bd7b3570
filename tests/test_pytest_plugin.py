"""The pytest API as another repository uses it: a user's test file with parity_check, the
backend markers and the options, run by pytest itself (pytester)."""

import signal
from pathlib import Path

import pytest

from harness.runtimes import shims

pytestmark = pytest.mark.parity

REPO = Path(__file__).parent.parent
EXAMPLE = REPO / "examples" / "dicom-preprocessing" / "parity"
SCAN = REPO / "fixtures" / "dicom" / "examples_overlay.dcm"

USER_TESTS = f"""
import dataclasses
import signal
from pathlib import Path

import pytest

from harness.specs import spec

FIXED = Path({str(EXAMPLE / "fixed.json")!r})
SEED = Path({str(EXAMPLE / "seed.json")!r})
SCAN = Path({str(SCAN)!r})


@pytest.mark.parity
@pytest.mark.parity_backends("wasm")
def test_only_on_wasm(parity_check, parity_backend):
    assert parity_backend == "wasm"
    parity_check(FIXED, cases=[SCAN])


@pytest.mark.parity
@pytest.mark.parity_skip_backends("cpu", reason="not on cpu here")
def test_not_on_cpu(parity_check):
    parity_check(FIXED, cases=[SCAN])


@pytest.mark.parity
def test_seed_without_its_expectation(parity_check):
    parity_check(dataclasses.replace(spec.load(SEED), expect={{}}), cases=[SCAN])
"""


def test_parity_a_users_test_file_runs_per_backend_with_markers(pytester, tmp_path):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(
        "--parity-backend", "wasm", "--parity-backend", "cpu", "--parity-out", str(tmp_path), "-rs"
    )
    result.assert_outcomes(passed=2, skipped=1, failed=2)
    result.stdout.fnmatch_lines(["*1 of 1 case(s) of dicom-preprocessing-seed do not pass*"])
    result.stdout.fnmatch_lines(["*first divergence: resize*"])
    result.stdout.fnmatch_lines(["*SKIPPED*not on cpu here*"])
    assert (tmp_path / "report.json").is_file()  # --parity-out: the session's report


def test_parity_the_import_shims_match_the_installed_libraries(parity_harness):
    """web/page/shims/, written by Node from the installed bundles, export every name of the
    page's TF.js and dicom-parser globals, and nothing else."""
    page = parity_harness.backend_page("chromium", "cpu").page
    for global_name, file in shims.GLOBALS.values():
        path = shims.SHIMS / file
        assert shims.exported(path) == shims.page_names(page, global_name), path.name


@pytest.mark.parity_backends("wasm")
def test_parity_check_a_case_that_cannot_load_is_that_cases_error(
    parity_check, tmp_path, fixtures_dir
):
    """A corrupt file among a pipeline's cases fails the check naming that case; the other
    cases still run (they are in the check's runs)."""
    import json

    corrupt = tmp_path / "corrupt.dcm"
    corrupt.write_bytes(b"DICM" + b"\0" * 64)
    seed_matched = json.loads((fixtures_dir / "pipelines" / "seed-matched.json").read_text())
    pipeline = tmp_path / "p.json"
    pipeline.write_text(
        json.dumps(
            {
                **seed_matched,
                "cases": [
                    {"dicom": str(corrupt), "stats": "seed"},
                    {"dicom": str(SCAN), "stats": "seed"},
                ],
            }
        )
    )
    with pytest.raises(pytest.fail.Exception) as failed:
        parity_check(pipeline)
    text = str(failed.value)
    assert "1 of 2 case(s)" in text and "corrupt.dcm: could not be loaded" in text
    assert "examples_overlay.dcm" not in text  # the good case ran, and passed


SLOW_SUITE = """
import json
import signal
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.parity
@pytest.mark.parity_backends("wasm")
def test_a_fine(parity_check):
    parity_check(HERE / "fine.json")
    (HERE / "fine-done").write_text("")


@pytest.mark.parity
@pytest.mark.parity_backends("wasm")
def test_b_slow(parity_check):
    parity_check(HERE / "slow.json")
"""


def _signal_project(tmp_path: Path, suite: str, conftest: str = "") -> list[str]:
    """A user's project: a fine pipeline, a slow one (its Python op writes `slow-started`,
    then sleeps 60 s), the test file `suite`; returns the pytest command."""
    import json
    import sys

    (tmp_path / "web").mkdir()
    (tmp_path / "ops.py").write_text(
        "import pathlib, time\nimport numpy as np\n\ndef op(x, seconds):\n"
        "    if seconds:\n        pathlib.Path(__file__).with_name('slow-started').touch()\n"
        "    time.sleep(seconds)\n    return np.asarray(x, dtype=np.float32)\n"
    )
    (tmp_path / "web" / "ops.js").write_text("export function op(x) { return x.toFloat(); }\n")
    for name, seconds in (("fine", 0), ("slow", 60)):
        spec = {"name": name, "ops": {"op": {"python": "ops.py:op", "js": "web/ops.js#op"}},
                "steps": [{"op": "decode"}, {"name": "s", "op": "op",
                                              "params": {"seconds": seconds}}],
                "cases": [{"file": str(SCAN)}]}  # fmt: skip
        (tmp_path / f"{name}.json").write_text(json.dumps(spec))
    (tmp_path / "test_user.py").write_text(suite)
    (tmp_path / "conftest.py").write_text(conftest)
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s",
            str(tmp_path / "test_user.py"), "--parity-out", str(tmp_path / "out")]  # fmt: skip


def _run_until(tmp_path: Path, cmd: list[str], marker: str, signum: int | None):
    """Runs pytest; once `marker` exists, sends `signum` (None: none); (returncode, output)."""
    import os
    import subprocess
    import time

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / marker).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if signum is not None:
        time.sleep(2)
        proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_parity_a_signalled_pytest_run_keeps_what_finished_and_does_not_pass(
    tmp_path, fixtures_dir, signum
):
    """SIGTERM (handled as pytest handles Ctrl-C) or SIGINT while a parity test runs: the
    browsers are closed, --parity-out holds the test that finished, marked interrupted, not
    passed; pytest exits as interrupted."""
    import json

    cmd = _signal_project(tmp_path, SLOW_SUITE)
    code, out = _run_until(tmp_path, cmd, "fine-done", signum)
    assert code == 2, out[-3000:]  # pytest's "interrupted"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["interrupted"] == signal.Signals(signum).name and report["passed"] is False
    assert [c["pipeline"] for c in report["cases"]] == ["fine"]


ONLY_SLOW = """
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.parity
@pytest.mark.parity_backends("wasm")
def test_slow(parity_check):
    parity_check(HERE / "slow.json")
"""

ONLY_FINE = ONLY_SLOW.replace("slow", "fine")


def test_parity_a_sigterm_before_any_test_finished_still_writes_the_report(tmp_path):
    """Nothing finished: --parity-out still says the session was interrupted, with no runs."""
    import json

    cmd = _signal_project(tmp_path, ONLY_SLOW)
    code, out = _run_until(tmp_path, cmd, "slow-started", signal.SIGTERM)
    assert code == 2, out[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (report["interrupted"], report["passed"], report["cases"]) == ("SIGTERM", False, [])
    from harness.core.results import Report

    assert Report.from_dict(report).to_dict() == report  # a report like any other


def test_parity_a_sigterm_in_the_terminal_summary_waits_for_the_report(tmp_path):
    """A SIGTERM that lands once every test is done (here: sent by another plugin's terminal
    summary) lets the report be written, then ends pytest as SIGTERM does."""
    import json

    conftest = (
        "import os, signal\n\n"
        "def pytest_terminal_summary():\n    os.kill(os.getpid(), signal.SIGTERM)\n"
    )
    cmd = _signal_project(tmp_path, ONLY_FINE, conftest)
    code, out = _run_until(tmp_path, cmd, "never", None)
    assert code == -signal.SIGTERM, out[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [c["pipeline"] for c in report["cases"]] == ["fine"] and report["passed"] is True


GIVEN_PATHS = f"""
from pathlib import Path

import pytest

SEED_MATCHED = Path({str(REPO / "fixtures" / "pipelines" / "seed-matched.json")!r})


def test_given(parity_check, tmp_path):
    corrupt = tmp_path / "corrupt.dcm"
    corrupt.write_bytes(b"\\0" * 128 + b"DICM" + b"\\0" * 32)
    parity_check(SEED_MATCHED, cases=[corrupt])


def test_missing(parity_check, tmp_path):
    parity_check(SEED_MATCHED, cases=[tmp_path / "missing.dcm"])
"""


def test_paths_given_to_parity_check_that_cannot_load_are_those_cases_errors(pytester):
    """A corrupt file given by path fails the check naming that case; a missing one too: no
    traceback of the harness, and no browser needed to say so."""
    pytester.makepyfile(test_given=GIVEN_PATHS)
    result = pytester.runpytest("--parity-backend", "cpu")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*1 of 1 case(s) of seed-matched do not pass*",
            "case corrupt.dcm: could not be loaded: corrupt.dcm: has no BitsStored*",
        ]
    )
    result.stdout.fnmatch_lines(["case missing.dcm: could not be loaded: no file *missing.dcm"])
    assert "Traceback" not in result.stdout.str()
