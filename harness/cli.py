"""`tfjs-parity probe|run|bench`: exit 0 only when every compared run passed, 2 on usage errors."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.compare.tolerance import Override, parse_override
from harness.core import paths
from harness.core.outputs import DEFAULT_MAX_STAGE_MB
from harness.core.results import CaseResult, Report, RunResult
from harness.core.stopping import RunStopped
from harness.orchestrate.orchestrator import Harness, harness_error
from harness.orchestrate.suite import (
    DEFAULT_SUITE,
    Suite,
    SuiteError,
    load_suite,
    pipeline_alone,
    run_suite,
    with_model,
)
from harness.report import html, json_report, terminal
from harness.runtimes.driver import BrowserUnavailable
from harness.specs.code_pipeline import CodePipeline
from harness.specs.params import PipelineSpecError
from harness.specs.variants import BROWSERS, DEFAULT_VARIANTS, KNOWN_VARIANTS, parse_variant

USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        for v in args.backend or ():
            parse_variant(v)
        return args.func(args)
    except (ValueError, SuiteError, PipelineSpecError) as e:
        print(f"tfjs-parity: {e}", file=sys.stderr)
        return USAGE_ERROR
    except BrowserUnavailable as e:
        print(f"tfjs-parity: {e}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfjs-parity", description=__doc__)
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--browser",
            action="append",
            choices=BROWSERS,
            help="browser to use (repeatable; default: chromium)",
        )
        q.add_argument(
            "--backend",
            action="append",
            metavar="VARIANT",
            help=f"backend variant (repeatable), e.g. {', '.join(KNOWN_VARIANTS)}",
        )

    probe = sub.add_parser("probe", help="what each browser/backend variant can do here")
    common(probe)
    probe.add_argument("--json", type=Path, help="also write the probe as JSON here")
    probe.set_defaults(func=cmd_probe)

    run = sub.add_parser("run", help="run a suite or pipeline and compare every stage")
    run.add_argument(
        "target",
        nargs="?",
        type=Path,
        help="suite or pipeline JSON (default: the bundled suite; with --model, the bundled "
        "seed-matched preprocessing)",
    )
    common(run)
    run.add_argument(
        "--model",
        type=Path,
        metavar="PATH",
        help="your model (.h5/.keras file or SavedModel directory), converted here and run "
        "after the pipeline's preprocessing (replacing its model step), or alone with "
        "--input-shape",
    )
    run.add_argument(
        "--model-format",
        choices=("layers", "graph"),
        help="compare as a LayersModel (layer by layer) or a GraphModel (node by node); "
        "default: layers for a Keras file, graph for a SavedModel",
    )
    run.add_argument(
        "--tfjs-model",
        type=Path,
        metavar="DIR",
        help="your own TF.js model (its folder, or its JSON file by any name): with --model, "
        "run in the page against TF running PATH; without, the Python reference is rebuilt "
        "from the same JSON and weights (TF.js's kernels against TF's, not a conversion), "
        "and it runs alone unless a pipeline is given",
    )
    run.add_argument(
        "--alone",
        action="store_true",
        help="with --model: run the model alone (no preprocessing) on seeded inputs of the "
        "dtype and shape its signature declares (a free batch size is 1)",
    )
    run.add_argument(
        "--input-shape",
        type=_named_shape,
        action="append",
        metavar="[NAME=]N,H,W,C",
        help="with --model: run the model alone on seeded inputs of this shape (repeatable, "
        "NAME=... for each input of a model with several)",
    )
    run.add_argument(
        "--input-range",
        type=_range,
        metavar="LO,HI",
        help="with --model: run the model alone on seeded values in [LO, HI) (integers for an "
        "integer input; default [-1, 1) for floats, [0, 10) for integers)",
    )
    run.add_argument(
        "--input",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="with --model: run the model alone on your own input, a .npy (one input) or a "
        ".npz with one array per input name (repeatable: one case per file)",
    )
    run.add_argument(
        "--samples",
        type=int,
        default=3,
        help="how many seeded inputs a model run alone gets (default 3)",
    )
    run.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="[STAGE][@VARIANT]:K=V",
        help="override the tolerance policy (repeatable), e.g. atol=1e-4, "
        "resize:rtol=1e-3,statistic=quantile:0.99, normalize@webgl:f16:atol=2e-3",
    )
    run.add_argument(
        "--no-isolated",
        action="store_true",
        help="skip the isolated runs (each stage's own error); the first divergence then "
        "comes from the end-to-end comparison",
    )
    run.add_argument(
        "--no-repeat", action="store_true", help="skip the second pass that checks determinism"
    )
    run.add_argument(
        "--allow-skips",
        action="store_true",
        help="exit 0 when every run was skipped (no backend could start here) instead of 1: "
        "for jobs on machines that may lack a browser or GPU; a failing or error run still "
        "fails",
    )
    run.add_argument(
        "--min-coverage",
        type=_share,
        metavar="SHARE",
        help="fail a run whose model compared fewer than this share (0..1) of its layers or "
        "nodes (over a pipeline's own min_coverage); the share is always reported",
    )
    run.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="seconds each step (or your code between two taps) may take, in the page and in "
        "Python, over a pipeline's own timeout (default 120); a step past it is that run's "
        "error, naming the side, the step and the limit",
    )
    run.add_argument(
        "--max-stage-mb",
        type=_megabytes,
        default=DEFAULT_MAX_STAGE_MB,
        metavar="MB",
        help="the largest stage read back from the page, in MB (default "
        f"{DEFAULT_MAX_STAGE_MB:g}); a larger one is that run's error naming the stage, its "
        "shape and the cap. Stages over 16 MB are compared slice by slice, never held whole",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=Path("parity-report"),
        help="directory for report.json (default: ./parity-report)",
    )
    run.set_defaults(func=cmd_run)

    bench = sub.add_parser("bench", help="performance figures")
    bench.add_argument(
        "name",
        nargs="?",
        choices=("transfer", "compare", "isolation", "model", "decode", "memory", "faults", "all"),
        default="all",
        help="transfer: page -> numpy MB/s; compare: comparator GB/s; isolation: default "
        "suite wall time with and without isolated runs; model: every layer of the bundled "
        "model captured + compared vs a plain inference per backend, and the default run's "
        "peak RSS; decode: a 512x512 16-bit DICOM decoded in the page vs pydicom, MB/s; "
        "memory: the harness's peak RSS over one case with a 512 MiB stage per side, as a "
        "multiple of the stage; faults: each fault injected (hangs, killed processes, GPU "
        "loss, signals) and the seconds until the next case ran (default: all)",
    )
    bench.add_argument("--json", type=Path, help="write the figures as JSON here")
    bench.add_argument(
        "--megabytes",
        type=float,
        default=40.0,
        help="size of the tensor moved by the fast path (default 40)",
    )
    bench.add_argument(
        "--naive-megabytes",
        type=float,
        default=1.0,
        help="size moved by the naive page.evaluate JSON path (default 1; it "
        "runs at well under 1 MB/s)",
    )
    bench.add_argument(
        "--backend",
        action="append",
        metavar="VARIANT",
        help="backends for `bench model` (repeatable; default: wasm and webgl)",
    )
    bench.set_defaults(func=cmd_bench)
    return p


def cmd_probe(args: argparse.Namespace) -> int:
    variants = args.backend or list(KNOWN_VARIANTS)
    out: dict[str, dict] = {}
    with Harness() as h:
        for browser in args.browser or ["chromium"]:
            try:
                session = h.session(browser)
            except BrowserUnavailable as e:
                out[browser] = {"version": None, "error": str(e), "backends": {}}
                print(f"{browser}: unavailable: {e}")
                continue
            for v in variants:
                session.probe(v)
        out = h.environment()["browsers"]
    for browser, entry in out.items():
        print(f"{browser} {entry.get('version') or ''}")
        for v, info in entry["backends"].items():
            detail = {
                k: info[k]
                for k in (
                    "active",
                    "precision",
                    "webgl_version",
                    "float32_render_capable",
                    "renderer",
                    "simd",
                    "threads",
                    "adapter",
                )
                if info.get(k) is not None
            }
            line = f"  {v:22} {info['status']:6} " + " ".join(
                f"{k}={v2}" for k, v2 in detail.items()
            )
            print(line + (f"  reason: {info['reason']}" if info["reason"] else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"browsers": out}, indent=2) + "\n")
    return 0


class Terminated(RunStopped):
    """SIGTERM (a CI job's cancel, `timeout`, `docker stop`): the report is still written."""


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


EXIT_ON_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as shells do


def _writable(out: Path) -> None:
    """--out must take the report before anything runs: a usage error, not a lost report."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as e:
        raise ValueError(f"--out {out}: cannot write the report there ({e.strerror})") from None


def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    paths.reference_cache_mb()  # settings from the environment, checked before anything runs
    paths.check_cache()
    suite = _suite(args)
    _writable(args.out)
    previous = signal.signal(signal.SIGTERM, _terminate)
    variants = args.backend or list(DEFAULT_VARIANTS)
    # Backends the user did not name are skipped when they cannot start here (as probe finds);
    # a backend named with --backend that cannot start is an error.
    unavailable = "error" if args.backend else "skipped"
    overrides = [parse_override(t) for t in args.tolerance]
    _check_override_stages(overrides, suite)
    report = Report(environment={})
    try:
        with Harness(
            not args.no_isolated,
            not args.no_repeat,
            overrides,
            min_coverage=args.min_coverage,
            timeout=args.timeout,
            max_stage_mb=args.max_stage_mb,
        ) as h:
            run_suite(
                h,
                suite,
                variants,
                args.browser or ["chromium"],
                unavailable,
                on_run=_progress,
                report=report,
            )
    except Terminated as e:
        report.interrupted = str(e)
    except KeyboardInterrupt:
        report.interrupted = "SIGINT"
    except (Exception, SystemExit) as e:  # the harness broke: the report says so, cannot pass
        report.error = harness_error(e)
        traceback.print_exc()
    finally:  # a report is written even when runs fail or the harness itself breaks
        signal.signal(signal.SIGTERM, previous)
        for entry in report.cases:
            if report.interrupted and entry.status == "ok" and not entry.runs:
                entry.status = "error"
                entry.reason = f"interrupted by {report.interrupted} before its runs finished"
        if report.interrupted:  # the cases it never reached are listed too, as not started
            reached = {(c.pipeline, c.case) for c in report.cases}
            report.cases += [
                CaseResult(
                    source.id,
                    pipeline.name,
                    status="error",
                    reason=f"not started: interrupted by {report.interrupted}",
                )
                for pipeline in suite.pipelines
                for source in suite.cases
                if (pipeline.name, source.id) not in reached
            ]
        report.timings["total"] = round(time.perf_counter() - t0, 3)
        path = json_report.write(report, args.out)
        html.write(report, args.out)
        print()
        print(terminal.render(report))
        print(f"report: {path} (and report.html)")
    if report.interrupted:
        return EXIT_ON_SIGNAL[report.interrupted]
    if args.allow_skips and _only_skips(report):
        print("tfjs-parity: every run was skipped (--allow-skips): nothing was compared")
        return 0
    unmatched = _unmatched_overrides(overrides, report)
    if unmatched and report.error is None:
        print(f"tfjs-parity: {unmatched}", file=sys.stderr)
        return USAGE_ERROR
    return 0 if report.passed else 1


def _only_skips(report: Report) -> bool:
    """Nothing failed or broke, and every run was skipped (nothing compared, nothing wrong)."""
    runs = [r for _, r in report.all_runs()]
    clean = report.error is None and all(c.status == "ok" for c in report.cases)
    return clean and bool(runs) and all(r.status == "skipped" for r in runs)


def _check_override_stages(overrides: Sequence[Override], suite: Suite) -> None:
    """A --tolerance naming a stage no pipeline has is a typo, refused before anything runs
    (a code pipeline's taps and a model's layers are known only once run: checked after)."""
    for o in overrides:
        if o.variant is not None:
            try:
                parse_variant(o.variant)
            except ValueError as e:
                raise ValueError(f"--tolerance ...@{o.variant}: {e}") from None
    if any(isinstance(p, CodePipeline) for p in suite.pipelines):
        return
    names = {n for p in suite.pipelines for n in p.stage_names}
    models = [s.name for p in suite.pipelines for s in p.steps if s.op == "model"]
    for o in overrides:
        if o.stage is None or o.stage in names:
            continue
        if any(o.stage.startswith(f"{m}/") for m in models):
            continue  # a layer or node: checked after the run
        raise ValueError(
            f"--tolerance {o.stage}: no stage of that name (stages: {', '.join(sorted(names))})"
        )


def _unmatched_overrides(overrides: Sequence[Override], report: Report) -> str | None:
    """The --tolerance stages that matched no stage, layer or node of any run compared."""
    seen = {
        name
        for _, run in report.all_runs()
        for s in run.stages
        for name in (s.name, *(f"{s.name}/{la.name}" for la in s.layers))
    }
    if not seen:
        return None  # nothing ran: nothing to say of the overrides
    missing = sorted({o.stage for o in overrides if o.stage is not None} - seen)
    if not missing:
        return None
    return (
        f"--tolerance {', '.join(missing)}: no stage, tap, layer or node of that name in any "
        "run (the report is written; the override changed nothing)"
    )


MODEL_FLAGS = ("model_format", "tfjs_model", "alone", "input_shape", "input_range", "input")


def _suite(args: argparse.Namespace) -> Suite:
    if args.model is None and args.tfjs_model is not None:  # a TF.js model alone
        own = args.tfjs_model
        if not (own.suffix == ".json" and own.is_file()) and not (own / "model.json").is_file():
            raise ValueError(f"--tfjs-model {own}: no model.json there (nor a model JSON file)")
        args.model, args.tfjs_model = own, None
        args.alone = args.alone or args.target is None  # no pipeline: the model is all there is
    if args.samples < 1:
        raise ValueError("--samples must be at least 1")
    shapes: dict[str | None, tuple[int, ...]] = {}
    for name, shape in args.input_shape or ():
        if name in shapes:
            raise ValueError(f"--input-shape given twice for {name or 'the input'}")
        shapes[name] = shape
    if None in shapes and len(shapes) > 1:
        raise ValueError("--input-shape: name every input (NAME=N,H,W) when giving several")
    missing = [str(f) for f in args.input if not f.is_file()]
    if missing:
        raise ValueError(f"--input: no such file: {', '.join(missing)}")
    if args.model is None:
        inputs_given = args.alone or args.input or shapes or args.input_range is not None
        if inputs_given and args.target is not None and not args.model_format:
            return pipeline_alone(args.target, shapes, args.samples, args.input, args.input_range)
        needs_model = [f for f in MODEL_FLAGS if getattr(args, f)]
        if needs_model:
            flag = "--" + needs_model[0].replace("_", "-")
            raise ValueError(
                f"{flag} goes with --model PATH (or a pipeline whose first step is a model)"
            )
        return load_suite(args.target or DEFAULT_SUITE)
    return with_model(
        args.target,
        args.model,
        args.model_format,
        args.tfjs_model,
        shapes,
        args.samples,
        args.input,
        args.input_range,
        args.alone,
    )


def _named_shape(text: str) -> tuple[str | None, tuple[int, ...]]:
    name, sep, sizes = text.rpartition("=")
    try:
        shape = tuple(int(d) for d in sizes.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1 or (sep and not name):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give positive sizes like 1,224,224,3 (or NAME=1,224,224,3)"
        )
    return (name or None), shape


def _positive(unit: str) -> Callable[[str], float]:
    """An argparse type: a finite number > 0 of `unit`, else the sentence saying so."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r}: a number of {unit} > 0")
        return value

    return parse


_seconds = _positive("seconds")


def _megabytes(text: str) -> float:
    value = _positive("megabytes")(text)
    if value * (1 << 20) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a cap of less than one byte")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a share from 0 to 1, e.g. 0.9")
    return value


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give LO,HI like 0,255") from None
    if not low < high or not all(map(math.isfinite, (low, high))):
        raise argparse.ArgumentTypeError(f"{text!r}: LO must be below HI, both finite")
    return low, high


def _progress(case: CaseResult, run: RunResult) -> None:
    print(
        f"  {case.pipeline} / {case.case} / {run.browser} {run.backend}: {terminal.outcome(run)}",
        flush=True,
    )


def cmd_bench(args: argparse.Namespace) -> int:
    from harness import bench

    figures: dict[str, Any] = {}
    if args.name in ("transfer", "all"):
        with Harness(hints=False) as h:
            figures.update(bench.transfer(h, args.megabytes, args.naive_megabytes))
    if args.name in ("compare", "all"):
        figures.update(bench.compare())
    if args.name in ("isolation", "all"):
        figures.update(bench.isolation())
    if args.name in ("decode", "all"):
        figures.update(bench.decode())
    if args.name in ("memory", "all"):
        figures.update(bench.memory())
    if args.name in ("faults", "all"):
        from harness import bench_faults

        figures.update(bench_faults.faults())
    if args.name in ("model", "all"):
        figures.update(bench.model(args.backend or ("wasm", "webgl")))
        figures.update(bench.peak_rss())
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
