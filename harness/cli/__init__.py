"""`tfjs-parity probe|run|bench`: exit 0 only when every compared run passed, 2 on usage errors."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from harness.cli.options import parser
from harness.cli.run import USAGE_ERROR
from harness.orchestrate.suite import SuiteError
from harness.runtimes.driver import BrowserUnavailable
from harness.specs.params import PipelineSpecError
from harness.specs.variants import parse_variant


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        backends = getattr(args, "backend", None) or ()
        for v in [backends] if isinstance(backends, str) else backends:
            parse_variant(v)
        return args.func(args)
    except (ValueError, SuiteError, PipelineSpecError) as e:
        print(f"tfjs-parity: {e}", file=sys.stderr)
        return USAGE_ERROR
    except BrowserUnavailable as e:
        print(f"tfjs-parity: {e}", file=sys.stderr)
        return 1
