"""A parity test's skip, placed at the test.

pytest reports a skip at the line that raised it; the plugin's helpers (`parity_run`,
`parity_check`, `assert_parity`) raise theirs from inside the plugin, which would name the
plugin's file in `-rs` output instead of the user's test. pytest's own skip marks place theirs at
the test with Skipped's `_use_item_location` (_pytest/skipping.py); so does this."""

from __future__ import annotations

from typing import NoReturn

import pytest


def skip(reason: str) -> NoReturn:
    """Skip the running test, said at the test's own location."""
    raise pytest.skip.Exception(reason, _use_item_location=True)
