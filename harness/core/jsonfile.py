"""Reading the user's JSON files (pipelines, suites) with errors in the user's terms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class JsonFileError(ValueError):
    """A JSON file that cannot be read or parsed, said with its path."""


def read_json(path: Path) -> Any:
    """The parsed file. Raises JsonFileError naming `path`: unreadable (missing, a folder, no
    permission), not JSON (with line and column), or nested deeper than the parser allows."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise JsonFileError(f"{path}: cannot read ({reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonFileError(f"{path}: not valid JSON ({e})") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise JsonFileError(f"{path}: a value in it cannot be read ({e})") from None
    except RecursionError:
        raise JsonFileError(
            f"{path}: nested too deeply to read (more levels of [ and {{ than Python's "
            "parser allows)"
        ) from None
