"""`tfjs-parity record`: the Python side of a suite or pipeline run once and written to a
reference store, for `run --references DIR` to replay where there is no TensorFlow; and the
`run` options that replay or update a store."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from harness.cli.argtypes import check_writable, seconds
from harness.cli.stopping import EXIT_ON_SIGNAL, Terminated, terminate
from harness.golden.store import check_store
from harness.orchestrate.recording import Recording, record_suite
from harness.orchestrate.suite import DEFAULT_SUITE, load_suite
from harness.specs import extensions

DEFAULT_STORE = Path("references")


def add_record(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    record = sub.add_parser(
        "record",
        help="run the Python side only and write each case's stage outputs, float terms and "
        "provenance to a reference store, for run --references to replay",
    )
    record.add_argument(
        "target",
        nargs="?",
        type=Path,
        help="suite or pipeline JSON (default: the bundled suite)",
    )
    record.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_STORE,
        help=f"the store's folder (default: ./{DEFAULT_STORE}); a record already there for the "
        "same pipeline and case is replaced",
    )
    record.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help="seconds each Python step may take (default: the pipeline's own, else 120)",
    )
    record.set_defaults(func=cmd_record)


def add_replay_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--references",
        type=Path,
        metavar="DIR",
        help="read the Python side from this recorded store (tfjs-parity record) instead of "
        "running it: neither TensorFlow nor your Python code is imported; a missing or stale "
        "record is that case's error, naming what changed; no hints or diagnoses (they re-run "
        "Python's ops)",
    )
    run.add_argument(
        "--references-update",
        action="store_true",
        help="with --references: compute a missing or stale record live and write it over; "
        "the run then exits 1, saying which were re-recorded, unless --references-accept",
    )
    run.add_argument(
        "--references-accept",
        action="store_true",
        help="with --references-update: re-recorded records do not fail the run",
    )


def check_replay_options(args: argparse.Namespace) -> None:
    """Usage errors, said before anything runs."""
    if args.references_accept and not args.references_update:
        raise ValueError("--references-accept goes with --references-update")
    if args.references_update and args.references is None:
        raise ValueError("--references-update goes with --references DIR")
    if args.references is not None and not args.references_update:
        check_store(args.references)
    if args.references_update:  # it will write there: said now, not as each run's error
        check_writable(args.references, "--references", "records")


def cmd_record(args: argparse.Namespace) -> int:
    extensions.installed()
    suite = load_suite(args.target or DEFAULT_SUITE)
    check_writable(args.out, "--out", "the store")
    print(f"recording the Python side of {suite.name} into {args.out}")
    done: list[Recording] = []
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        record_suite(suite.pipelines, suite.cases, args.out, args.timeout, _progress, done)
    except (KeyboardInterrupt, Terminated) as e:  # what was written stays whole (atomic)
        said = "SIGTERM" if isinstance(e, Terminated) else "SIGINT"
        print(f"interrupted by {said}: {len(done)} recorded or refused before it", file=sys.stderr)
        return EXIT_ON_SIGNAL[said]
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [r for r in done if r.status != "recorded"]
    print(f"{len(done) - len(failed)} of {len(done)} recorded into {args.out}")
    if failed:
        print(f"tfjs-parity: {len(failed)} not recorded (see above)", file=sys.stderr)
        return 1
    return 0


def _progress(r: Recording) -> None:
    where = r.detail if r.status == "recorded" else f"ERROR: {r.detail}"
    print(f"  {r.pipeline} / {r.case}: {r.status} in {r.seconds:.1f}s ({where})", flush=True)
