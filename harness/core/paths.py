"""Where the harness finds the page it serves, its npm tree and the bundled fixtures: the
checkout the package is installed from (`pip install -e CHECKOUT`), or TFJS_PARITY_HOME (a
checkout) when the package was installed some other way. TFJS_PARITY_WEB moves web/ alone."""

from __future__ import annotations

import os
from pathlib import Path

HOME = Path(os.environ.get("TFJS_PARITY_HOME", Path(__file__).resolve().parents[2]))
WEB = Path(os.environ.get("TFJS_PARITY_WEB", HOME / "web"))
PAGE = WEB / "page"
NODE_MODULES = WEB / "node_modules"
FIXTURES = HOME / "fixtures"
CACHE = Path(os.environ.get("TFJS_PARITY_CACHE", HOME / ".parity-cache"))


def reference_cache_mb() -> float:
    """TFJS_PARITY_REFERENCE_CACHE_MB (default 512): how many MB of Python references a run
    keeps. Raises ValueError naming the variable when it is not a number >= 0."""
    text = os.environ.get("TFJS_PARITY_REFERENCE_CACHE_MB", "").strip() or "512"  # "": unset
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ValueError(
            f"TFJS_PARITY_REFERENCE_CACHE_MB={text!r}: a number of megabytes >= 0 (e.g. 512)"
        )
    return value


def check_cache() -> None:
    """The cache folder (TFJS_PARITY_CACHE, default .parity-cache in the checkout) can hold
    converted models: a folder that exists or can be made, and can be written. Raises
    ValueError naming the variable and the reason."""
    try:
        (CACHE / "models").mkdir(parents=True, exist_ok=True)
        probe = CACHE / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ValueError(
            f"TFJS_PARITY_CACHE={CACHE}: cannot use it as the cache folder "
            f"({e.strerror or e}); point it at a folder you can write"
        ) from None
