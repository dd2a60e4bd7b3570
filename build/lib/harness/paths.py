"""Where the harness finds the page it serves, its npm tree and the bundled fixtures: the
checkout the package is installed from (`pip install -e CHECKOUT`), or TFJS_PARITY_HOME (a
checkout) when the package was installed some other way. TFJS_PARITY_WEB moves web/ alone."""

from __future__ import annotations

import os
from pathlib import Path

HOME = Path(os.environ.get("TFJS_PARITY_HOME", Path(__file__).resolve().parents[1]))
WEB = Path(os.environ.get("TFJS_PARITY_WEB", HOME / "web"))
PAGE = WEB / "page"
NODE_MODULES = WEB / "node_modules"
FIXTURES = HOME / "fixtures"
