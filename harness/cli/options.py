"""The command line: verbs, options and their argument types (usage errors say which)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import argtypes
from harness.cli.benchmarks import cmd_bench
from harness.cli.diffing import cmd_diff
from harness.cli.probe import cmd_probe
from harness.cli.record import add_record, add_replay_options
from harness.cli.remote import add_endpoint_options
from harness.cli.reproduce import add_repro
from harness.cli.rerender import cmd_report
from harness.cli.run import cmd_run
from harness.core.outputs import DEFAULT_MAX_STAGE_MB
from harness.orchestrate.keep import DEFAULT_KEEP_MB, KEEP_CHOICES
from harness.specs.variants import BROWSERS, KNOWN_VARIANTS

BENCHMARKS = ("transfer", "compare", "isolation", "model", "decode", "memory", "faults")
BENCHMARKS += ("replay", "xdist", "all")
DESCRIPTION = (
    "`tfjs-parity probe|run|record|report|diff|repro|bench`: exit 0 only when every compared run "
    "passed, 2 on usage errors."
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfjs-parity", description=DESCRIPTION)
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
        add_endpoint_options(q)

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
        type=argtypes.named_shape,
        action="append",
        metavar="[NAME=]N,H,W,C",
        help="with --model: run the model alone on seeded inputs of this shape (repeatable, "
        "NAME=... for each input of a model with several)",
    )
    run.add_argument(
        "--input-range",
        type=argtypes.value_range,
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
        "--reference",
        type=argtypes.reference_side,
        default="python",
        metavar="SIDE",
        help="what every backend is compared with: python (default: TF and numpy, live), or "
        "a backend such as wasm, webgl:f16 or chromium:wasm, run as the reference and left "
        "out of the candidates (backend vs backend: stages fed the reference page's values, "
        "no hints, declared divergences not applied)",
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
        type=argtypes.share,
        metavar="SHARE",
        help="fail a run whose model compared fewer than this share (0..1) of its layers or "
        "nodes (over a pipeline's own min_coverage); the share is always reported",
    )
    run.add_argument(
        "--timeout",
        type=argtypes.seconds,
        metavar="SECONDS",
        help="seconds each step (or your code between two taps) may take, in the page and in "
        "Python, over a pipeline's own timeout (default 120); a step past it is that run's "
        "error, naming the side, the step and the limit",
    )
    run.add_argument(
        "--max-stage-mb",
        type=argtypes.megabytes,
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
    run.add_argument(
        "--keep-tensors",
        choices=KEEP_CHOICES,
        default="failing",
        help="keep arrays as .npy under DIR/tensors/, named in report.json (each stage's "
        "`tensors`): the reference's, the candidate's end to end and alone, and the stage's "
        "input; of failing stages and layers (default), all, or none",
    )
    run.add_argument(
        "--keep-tensors-mb",
        type=argtypes.megabytes,
        default=DEFAULT_KEEP_MB,
        metavar="MB",
        help=f"stop keeping tensors once this many MB are written (default {DEFAULT_KEEP_MB:g}); "
        "a stage past it says so in report.json",
    )
    add_replay_options(run)
    run.set_defaults(func=cmd_run)
    add_record(sub)
    add_repro(sub)

    report = sub.add_parser(
        "report", help="show a report.json again and write its report.html, re-running nothing"
    )
    report.add_argument("path", type=Path, help="a report folder, or its report.json")
    report.add_argument(
        "--out", type=Path, help="folder for report.html (default: the report's own folder)"
    )
    report.set_defaults(func=cmd_report)

    diff = sub.add_parser(
        "diff", help="which runs and stages got better or worse between two reports"
    )
    diff.add_argument("old", type=Path, help="the earlier report folder, or its report.json")
    diff.add_argument("new", type=Path, help="the later report folder, or its report.json")
    diff.set_defaults(func=cmd_diff)

    bench = sub.add_parser("bench", help="performance figures")
    bench.add_argument(
        "name",
        nargs="?",
        choices=BENCHMARKS,
        default="all",
        help="transfer: page -> numpy MB/s; compare: comparator GB/s; isolation: default suite"
        " wall time with and without isolated runs; replay: the default suite with a live"
        " Python reference vs one recorded and replayed without TensorFlow; model: every "
        "layer of the bundled model captured + compared vs a plain inference per backend,"
        " and the default run's peak RSS; decode: a 512x512 16-bit DICOM decoded in the "
        "page vs pydicom, MB/s; memory: the harness's peak RSS over one case with a 512 "
        "MiB stage per side, as a multiple of the stage; faults: each fault injected "
        "(hangs, killed processes, GPU loss, signals) and the seconds until the next case"
        " ran (default: all)",
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
