"""The CLI contract: exit statuses, report.json's shape, a report even when runs fail."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import metrics

CLI = [sys.executable, "-m", "harness.cli"]
STAGE_METRICS = {"max_abs", "max_rel", "max_ulp", "mismatch_fraction", "allclose"}


def tfjs_parity(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def check_contract(report: dict) -> None:
    """The keys of the report.json contract, tfjs-parity/1 (docs/usage.md)."""
    assert report["schema"] == "tfjs-parity/1"
    env = report["environment"]
    for key in ("python", "tensorflow", "tfjs", "reference_device", "browsers"):
        assert key in env, key
    for name, browser in env["browsers"].items():
        assert "version" in browser and "backends" in browser, name
    for case in report["cases"]:
        assert {"case", "pipeline", "runs"} <= set(case)
        for run in case["runs"]:
            assert {"browser", "backend", "status", "reason", "first_divergence", "stages"} <= set(
                run
            )
            assert run["status"] in ("ok", "skipped", "error")
            for stage in run["stages"]:
                assert {
                    "name",
                    "shape",
                    "dtype",
                    "verdict",
                    "chained",
                    "isolated",
                    "tolerance",
                } <= set(stage)
                if stage["chained"] is not None:
                    assert set(stage["chained"]) >= STAGE_METRICS


def test_unknown_backend_is_a_usage_error(tmp_path):
    done = tfjs_parity("run", "--backend", "webgl:turbo", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown option 'turbo' for webgl" in done.stderr


def test_bad_pipeline_is_a_usage_error_naming_the_path(tmp_path, write_json):
    path = write_json("p.json", {"name": "p", "steps": [{"op": "resize"}]})
    done = tfjs_parity("run", str(path), "--backend", "cpu", cwd=tmp_path)
    assert done.returncode == 2
    assert "steps[0].python.size: required" in done.stderr


@pytest.mark.parity
def test_parity_run_keeps_going_past_a_corrupt_file_and_writes_the_report(
    tmp_path, fixtures_dir, write_json
):
    corrupt = tmp_path / "corrupt.dcm"
    corrupt.write_bytes(b"not a DICOM file " * 30)
    good = tmp_path / "good.dcm"
    shutil.copy(fixtures_dir / "dicom" / "examples_overlay.dcm", good)
    suite = write_json(
        "suite.json",
        {
            "name": "t",
            "pipelines": [str(fixtures_dir / "pipelines" / "seed-matched.json")],
            "cases": [
                {"dicom": "corrupt.dcm", "stats": "seed"},
                {"dicom": "good.dcm", "stats": "seed"},
            ],
        },
    )
    done = tfjs_parity("run", str(suite), "--backend", "cpu", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr  # one case could not be loaded
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    check_contract(report)
    by_case = {c["case"]: c for c in report["cases"]}
    assert by_case["corrupt.dcm"]["status"] == "error"
    assert "corrupt.dcm: not a readable DICOM file" in by_case["corrupt.dcm"]["reason"]
    [run] = by_case["good.dcm"]["runs"]
    assert run["status"] == "ok" and run["first_divergence"] is None
    assert "1 passed" in done.stdout and "1 case(s) could not be loaded" in done.stdout


@pytest.mark.parity
def test_parity_run_prints_the_matrix_and_passes_on_expected_divergence(tmp_path, fixtures_dir):
    seed = fixtures_dir / "pipelines" / "seed.json"
    done = tfjs_parity("run", str(seed), "--backend", "cpu", "--out", "o", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS (diverges as declared: resize semantic 0.31 <= 0.5)" in done.stdout
    assert "time (summed over the pages working in parallel): " in done.stdout
    assert "backend_init" in done.stdout
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    check_contract(report)
    assert {r["first_divergence"] for c in report["cases"] for r in c["runs"]} == {"resize"}
    assert 100 < report["resources"]["peak_rss_mb"] < 2000  # the harness process, in MB
    assert "peak memory of the harness process:" in done.stdout
    page = (tmp_path / "o" / "report.html").read_text()
    assert page.count("<tr><td>") == 3  # one row per bundled case on cpu
    assert "class='fail' title='mismatched elements:" in page


@pytest.mark.parity
def test_parity_probe_reports_each_variant(tmp_path):
    done = tfjs_parity(
        "probe", "--backend", "cpu", "--backend", "webgl:f16", "--json", "p.json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    backends = json.loads((tmp_path / "p.json").read_text())["browsers"]["chromium"]["backends"]
    assert backends["cpu"]["status"] == "ok" and backends["cpu"]["active"] == "cpu"
    f16 = backends["webgl:f16"]
    assert f16["active"] == "webgl" and f16["precision"] == "float16"
    assert f16["flags"] == {"WEBGL_FORCE_F16_TEXTURES": True}


@pytest.mark.parity
def test_parity_bench_transfer_reports_both_paths(tmp_path):
    done = tfjs_parity(
        "bench",
        "transfer",
        "--megabytes",
        "2",
        "--naive-megabytes",
        "0.02",
        "--json",
        "b.json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / "b.json").read_text())["transfer"]
    assert figures["megabytes"] == 2.0 and figures["naive_megabytes"] == 0.02
    assert figures["mb_per_s"] > 0 and figures["naive_mb_per_s"] > 0


@pytest.mark.parity
def test_parity_bench_decode_reports_page_and_pydicom_rates(tmp_path):
    done = tfjs_parity("bench", "decode", "--json", "d.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    figures = json.loads((tmp_path / "d.json").read_text())["decode"]
    assert figures["file_megabytes"] > 0.5  # 512 x 512 x 2 bytes and a header
    rates = ("page_decode", "page", "page_run", "python")
    assert all(figures[f"{r}_mb_per_s"] > 0 for r in rates)
    assert figures["page_decode_mb_per_s"] > figures["page_mb_per_s"]  # the fetch is extra


def test_missing_chromium_is_reported_with_the_install_command(tmp_path, fixtures_dir):
    seed = fixtures_dir / "pipelines" / "seed.json"
    env_path = str(tmp_path / "no-such-chromium")
    done = subprocess.run(
        [*CLI, "run", str(seed), "--backend", "cpu", "--out", "o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TFJS_PARITY_CHROMIUM": env_path},
    )
    assert done.returncode == 1
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    runs = [r for c in report["cases"] for r in c["runs"]]
    assert runs and all(r["status"] == "error" for r in runs)
    assert f"Chromium is not installed at {env_path}" in runs[0]["reason"]
    assert "apt-get install -y chromium" in runs[0]["reason"]
    assert report["environment"]["browsers"]["chromium"]["error"] == runs[0]["reason"]


def test_a_run_that_compared_nothing_is_not_green_unless_skips_are_allowed(tmp_path, fixtures_dir):
    """No browser and no --backend: every run is skipped with the reason, which exits 1 (it
    tested nothing), or 0 with --allow-skips, said as such; a named backend stays an error."""
    seed = fixtures_dir / "pipelines" / "seed.json"
    env = {**os.environ, "TFJS_PARITY_CHROMIUM": str(tmp_path / "no-such-chromium")}

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLI, "run", str(seed), "--out", "o", *extra],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip

    done = run()
    assert done.returncode == 1 and "nothing passed" in done.stdout
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    runs = [r for c in report["cases"] for r in c["runs"]]
    assert runs and all(r["status"] == "skipped" and "Chromium" in r["reason"] for r in runs)
    allowed = run("--allow-skips")
    assert allowed.returncode == 0 and "every run was skipped (--allow-skips)" in allowed.stdout
    assert run("--allow-skips", "--backend", "cpu").returncode == 1  # asked for: an error


@pytest.mark.parity
def test_parity_tolerance_override_changes_the_verdict_and_says_so(tmp_path, fixtures_dir):
    matched = fixtures_dir / "pipelines" / "seed-matched.json"
    done = tfjs_parity(
        "run",
        str(matched),
        "--backend",
        "cpu",
        "--no-repeat",
        "--tolerance",
        "resize:atol=0,rtol=0",
        "--out",
        "o",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    for case in report["cases"]:
        [run] = case["runs"]
        assert run["first_divergence"] == "resize"
        resize = run["stages"][2]
        assert (
            resize["tolerance"]["atol"] == 0
            and "command line: atol, rtol" in resize["tolerance"]["basis"]
        )
        assert resize["min_passing_tolerance"]["atol"] > 0
        assert resize["own_error_class"] == "float32"  # the class does not depend on policy
    assert "it would pass with atol" in done.stdout or "first divergences:" in done.stdout


def test_model_flags_need_a_model(tmp_path):
    done = tfjs_parity("run", "--input-shape", "1,4", cwd=tmp_path)
    assert done.returncode == 2 and "--input-shape goes with --model PATH" in done.stderr
    done = tfjs_parity("run", "--model", "m.h5", "--input-shape", "1,0", cwd=tmp_path)
    assert done.returncode == 2 and "give positive sizes like 1,224,224,3" in done.stderr


@pytest.mark.parity
def test_parity_run_your_own_model_alone_on_seeded_inputs(tmp_path, fixtures_dir):
    model = fixtures_dir / "models" / "xray_mobilenetv2.h5"
    args = ("--input-shape", "1,224,224,3", "--samples", "2", "--backend", "wasm")
    done = tfjs_parity("run", "--model", str(model), *args, "--out", "o", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    check_contract(report)
    assert [c["case"] for c in report["cases"]] == ["uniform-seed0", "uniform-seed1"]
    [stage] = [s for s in report["cases"][0]["runs"][0]["stages"] if s["name"] == "model"]
    assert len(stage["layers"]) == 155 and stage["verdict"] == "pass"
    assert "2 image(s): top-1 agreement 100%" in done.stdout
    page = (tmp_path / "o" / "report.html").read_text()
    assert "uniform-seed0 chromium wasm: model, 155 layers, 0 failing end to end" in page
    assert page.count("<details>") == 2  # folded: nothing failed


@pytest.mark.parity
def test_parity_run_a_savedmodel_after_the_preprocessing_node_by_node(tmp_path, fixtures_dir):
    from harness.core import tf_runtime

    tf = tf_runtime.tf()
    keras_model = tf_runtime.keras().models.load_model(
        fixtures_dir / "models" / "xray_mobilenetv2.h5"
    )
    tf.saved_model.save(keras_model, str(tmp_path / "saved"))
    done = tfjs_parity("run", "--model", "saved", "--backend", "wasm", "--out", "o", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert {c["pipeline"] for c in report["cases"]} == {"seed-matched+saved"}
    run = report["cases"][0]["runs"][0]
    assert [s["name"] for s in run["stages"]][-2:] == ["expand_dims", "model"]
    [stage] = [s for s in run["stages"] if s["name"] == "model"]
    assert stage["layers"][0]["op"] == "_FusedConv2D"  # a GraphModel: compared node by node
    assert len(stage["layers"]) == 70


def test_a_harness_crash_leaves_a_failing_report_with_the_reason(tmp_path, monkeypatch, capsys):
    from harness import cli
    from harness.cli import run
    from harness.orchestrate import suite

    def crash(harness, suite_, variants, browsers, unavailable, on_run, report):
        report.cases.append(suite.CaseResult(case="a", pipeline="p"))
        raise RuntimeError("the model would not load")

    monkeypatch.setattr(run, "run_suite", crash)
    status = cli.main(["run", "--backend", "cpu", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "report.json").read_text())
    assert status == 1
    assert report["passed"] is False
    assert report["error"].startswith("harness error: RuntimeError: the model would not load")
    assert [c["case"] for c in report["cases"]] == ["a"]  # what was gathered is kept
    assert "the harness stopped" in capsys.readouterr().out


def test_an_exception_inside_a_run_is_that_runs_error(monkeypatch):
    from harness.orchestrate import orchestrator
    from harness.orchestrate.suite import bundled_case, bundled_pipeline

    def broken(*args, **kwargs):
        raise KeyError("layer_0")

    monkeypatch.setattr(orchestrator.Harness, "_run", broken)
    run = orchestrator.Harness().run(
        bundled_pipeline("seed"), bundled_case("examples_overlay"), "chromium", "cpu"
    )
    assert (run.status, run.passed) == ("error", False)
    assert run.reason.startswith("harness error: KeyError: 'layer_0' (at test_cli.py:")


def test_a_report_with_nothing_compared_does_not_pass():
    from harness.core.results import CaseResult, Report, RunResult

    skipped = Report({}, [CaseResult("a", "p", runs=[RunResult("chromium", "webgpu", "skipped")])])
    assert not skipped.passed and not Report({}).passed


def test_an_out_folder_that_cannot_take_the_report_is_a_usage_error(capsys):
    from harness import cli

    assert cli.main(["run", "--backend", "cpu", "--out", "/dev/null/report"]) == 2
    assert "--out /dev/null/report: cannot write the report there" in capsys.readouterr().err


@pytest.mark.parity
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_parity_a_signal_stops_the_run_and_keeps_what_finished(
    tmp_path, fixtures_dir, signum, code
):
    """SIGTERM (CI cancel, `timeout`, `docker stop`) and SIGINT (Ctrl-C) while a case runs: the
    browser is closed at once, report.json holds the runs that finished, says which signal
    stopped it and does not pass; the exit status is 128 + the signal's number."""
    seed = fixtures_dir / "pipelines" / "seed.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [*CLI, "run", str(seed), "--backend", "cpu", "--out", "o"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:  # the first run's line: the harness is busy with the next case
        if " / chromium cpu: " in line:
            break
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert proc.returncode == code, out[-2000:]
    assert report["passed"] is False and report["interrupted"] == signal.Signals(signum).name
    finished = [c for c in report["cases"] if c["runs"]]
    assert finished and all(r["status"] == "ok" for c in finished for r in c["runs"])
    cut = [c for c in report["cases"] if not c["runs"]]
    assert all(c["status"] == "error" for c in cut)
    assert all(c["reason"].startswith(("interrupted", "not started: interrupted")) for c in cut)
    # every case is in the report: those it never reached as not started
    from harness.orchestrate.suite import load_suite

    assert len(report["cases"]) == len(load_suite(seed).cases)
    summary = next(line for line in out.splitlines() if line.startswith("runs: "))
    short = [c for c in cut if c["reason"].startswith("interrupted")]
    unstarted = len(cut) - len(short)
    assert (f", {len(short)} case(s) cut short" in summary) == bool(short), summary
    assert (f", {unstarted} not started" in summary) == bool(unstarted), summary
    assert "Traceback" not in out


def test_bad_input_is_exit_2_and_a_sentence_naming_it(tmp_path, fixtures_dir, capsys, monkeypatch):
    """Deep JSON, a suite naming a missing pipeline, bad environment settings, a --tolerance
    for a stage no pipeline has: each a usage error before anything runs, no traceback."""
    from harness import cli
    from harness.core import paths

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"pipelines": ["nope.json"], "cases": [str(fixtures_dir)]}))
    empty = tmp_path / "empty.json"
    empty.write_text(
        json.dumps({"pipelines": [], "cases": [str(fixtures_dir / "dicom" / "*.dcm")]})
    )
    seed = str(fixtures_dir / "pipelines" / "seed-matched.json")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases = [
        ([str(deep)], {}, "deep.json: nested too deeply to read"),
        ([str(suite)], {}, "suite.json: pipelines[0]: no pipeline file 'nope.json'"),
        ([str(empty)], {}, "empty.json: pipelines: lists no pipeline file"),
        ([seed], {"TFJS_PARITY_REFERENCE_CACHE_MB": "abc"}, "TFJS_PARITY_REFERENCE_CACHE_MB='abc'"),
        ([seed], {"TFJS_PARITY_REFERENCE_CACHE_MB": "-3"}, "a number of megabytes >= 0"),
        ([seed, "--tolerance", "nosuch:atol=1"], {}, "--tolerance nosuch: no stage of that"),
    ]
    for args, env, message in cases:
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            assert cli.main(["run", *args, "--backend", "cpu", "--out", str(tmp_path)]) == 2
        assert message in capsys.readouterr().err, message
    monkeypatch.setattr(paths, "CACHE", a_file)
    assert cli.main(["run", seed, "--backend", "cpu", "--out", str(tmp_path)]) == 2
    assert f"TFJS_PARITY_CACHE={a_file}: cannot use it" in capsys.readouterr().err


def test_a_tolerance_for_a_tap_no_run_had_is_named_after_the_run():
    from harness.cli.run import _unmatched_overrides
    from harness.compare.tolerance import parse_override
    from harness.core.results import CaseResult, Report, RunResult, StageResult

    stage = StageResult("resize", [2], "float32", [2], "float32", "pass", metrics(), None, None)
    conv = StageResult("conv", [2], "float32", [2], "float32", "pass", metrics(), None, None)
    stage.layers = [conv]
    report = Report({}, [CaseResult("a", "p", runs=[RunResult("chromium", "cpu", "ok")])])
    report.cases[0].runs[0].stages = [stage]
    known = [parse_override("resize:atol=1"), parse_override("resize/conv:atol=1")]
    assert _unmatched_overrides(known, report) is None
    typo = [parse_override("resise:atol=1")]
    assert "--tolerance resise: no stage, tap, layer or node" in _unmatched_overrides(typo, report)


def test_a_harness_that_is_closing_starts_no_browser():
    """A run thread that finds its browser gone while the run stops on a signal must not start
    (or restart) one: the harness is closed."""
    from harness.orchestrate.orchestrator import Harness
    from harness.runtimes.driver import BrowserUnavailable

    harness = Harness()
    harness.__enter__()
    harness.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
    with pytest.raises(BrowserUnavailable, match="the harness is closed"):
        harness.session("chromium")


def test_a_report_is_shown_again_and_its_page_rewritten_from_report_json_alone(tmp_path, capsys):
    """`tfjs-parity report DIR`: nothing re-runs; the matrix and report.html come from the
    report.json read back, and the exit status is the report's."""
    from harness.cli import main
    from harness.report import html, json_report, terminal
    from tests.test_results import a_report

    report = a_report()
    json_report.write(report, tmp_path / "run")
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "page")]) == 1
    shown = capsys.readouterr().out
    assert terminal.render(report) in shown
    assert (tmp_path / "page" / "report.html").read_text() == html.render(report)
    assert main(["report", str(tmp_path / "run" / "report.json")]) == 1  # the file itself
    assert (tmp_path / "run" / "report.html").is_file()
    (tmp_path / "bad.json").write_text('{"schema": "tfjs-parity/1", "cases": 3}')
    assert main(["report", str(tmp_path / "bad.json")]) == 2
    assert "'environment' is a required property" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: cannot read" in capsys.readouterr().err
