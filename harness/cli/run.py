"""`tfjs-parity run`: a suite, pipeline or model on every backend asked for, into report.json,
report.html and the terminal; SIGINT and SIGTERM stop it with the report written."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
import traceback
from collections.abc import Sequence

from harness.cli import argtypes
from harness.cli.record import check_replay_options
from harness.cli.remote import endpoints
from harness.cli.stopping import EXIT_ON_SIGNAL, Terminated, terminate
from harness.compare.tolerance import Override, parse_override
from harness.core import paths
from harness.core.results import CaseResult, Report, RunResult
from harness.orchestrate.errors import harness_error
from harness.orchestrate.keep import TensorKeeper
from harness.orchestrate.orchestrator import Harness
from harness.orchestrate.suite import (
    DEFAULT_SUITE,
    Suite,
    load_suite,
    pipeline_alone,
    run_suite,
    with_model,
)
from harness.report import html, json_report, terminal, wording
from harness.specs import extensions
from harness.specs.code_pipeline import CodePipeline, without_user_python
from harness.specs.variants import DEFAULT_VARIANTS, candidates, parse_reference, parse_variant

USAGE_ERROR = 2


def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    paths.reference_cache_mb()  # settings from the environment, checked before anything runs
    paths.check_cache()
    extensions.installed()  # a broken extension is said in one sentence before anything runs
    check_replay_options(args)
    replaying = args.references is not None and not args.references_update
    with without_user_python() if replaying else contextlib.nullcontext():
        suite = _suite(args)
    argtypes.check_writable(args.out)
    previous = signal.signal(signal.SIGTERM, terminate)
    browsers = args.browser or ["chromium"]
    # a wrong one is a usage error before anything runs; the reference page's browser uses one
    page = parse_reference(args.reference).browser
    where = endpoints(args, [*browsers, *([page] if page else [])])
    variants = _candidates(args.backend or list(DEFAULT_VARIANTS), args.reference, browsers)
    # Backends the user did not name are skipped when they cannot start here (as probe finds);
    # a backend named with --backend that cannot start is an error.
    unavailable = "error" if args.backend else "skipped"
    overrides = [parse_override(t) for t in args.tolerance]
    _check_override_stages(overrides, suite)
    report = Report(environment={})
    rerecorded: list[str] = []
    try:
        with Harness(
            not args.no_isolated,
            not args.no_repeat,
            overrides,
            min_coverage=args.min_coverage,
            timeout=args.timeout,
            max_stage_mb=args.max_stage_mb,
            reference=args.reference,
            references=args.references,
            update_references=args.references_update,
            keeper=TensorKeeper(args.out, args.keep_tensors, args.keep_tensors_mb),
            endpoints=where,
        ) as h:
            rerecorded = h.side.rerecorded
            run_suite(
                h,
                suite,
                variants,
                browsers,
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
    if rerecorded:
        print(f"re-recorded into {args.references}:\n  " + "\n  ".join(rerecorded))
        if not args.references_accept:
            print(
                f"tfjs-parity: {len(rerecorded)} reference(s) re-recorded: the run fails so "
                "that a changed reference is seen; re-run to check against them, or pass "
                "--references-accept",
                file=sys.stderr,
            )
            return 1
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


def _candidates(variants: Sequence[str], reference: str, browsers: Sequence[str]) -> list[str]:
    """The backends compared with `reference`: those asked for, less the reference itself.
    ValueError when that leaves none."""
    left = candidates(list(variants), parse_reference(reference), browsers)
    if not left:
        raise ValueError(
            f"--reference {reference}: it is the only backend asked for; name the backends to "
            "compare with it (--backend)"
        )
    return left


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


def _progress(case: CaseResult, run: RunResult) -> None:
    print(
        f"  {case.pipeline} / {case.case} / {run.browser} {run.backend}: {wording.outcome(run)}",
        flush=True,
    )
