"""The harness's own failures, said where they happened."""

from __future__ import annotations

import traceback
from pathlib import Path


def harness_error(error: BaseException) -> str:
    """'harness error: TYPE: message (at file.py:line in function)', the innermost frame."""
    text = f"harness error: {type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        text += f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})"
    return text
