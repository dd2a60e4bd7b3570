"""`python -m harness.cli`: the tfjs-parity command."""

import sys

from harness.cli import main

sys.exit(main())
