"""Versions of what ran, for reports: Python distributions and the npm packages the page is
served."""

from __future__ import annotations

import importlib.metadata
import json

from harness.core import paths


def python(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def npm(name: str) -> str | None:
    package = paths.NODE_MODULES / name / "package.json"
    return json.loads(package.read_text())["version"] if package.is_file() else None
