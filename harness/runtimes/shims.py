"""The page's import-map shims (web/page/shims/, written by web/scripts/make-shims.mjs at
install): each an ES module exporting every name of one of the page's global libraries, so a
user's module can `import * as tf from '@tensorflow/tfjs'` as their app does and get the very
TF.js the harness set the backend of. Here: what a shim exports, and what the page's global
really holds, for the test that checks the two agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.core import paths

SHIMS = paths.PAGE / "shims"
# bare import specifier -> (the page's global, shim file)
GLOBALS = {
    "@tensorflow/tfjs": ("tf", "tfjs.js"),
    "dicom-parser": ("dicomParser", "dicom-parser.js"),
}
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")
_RESERVED = {"default", "delete", "new", "function", "class", "enum", "import", "export"}
_EXPORTED = re.compile(r"^  ([A-Za-z_$][\w$]*),$", re.MULTILINE)


def exported(path: Path) -> set[str]:
    """The names a shim file exports (besides its default)."""
    return set(_EXPORTED.findall(path.read_text()))


def page_names(page: Any, global_name: str) -> set[str]:
    """The names of the page's global `global_name` that an ES module can export."""
    names = page.evaluate(f"() => Object.keys(globalThis.{global_name})")
    return {n for n in names if _IDENTIFIER.match(n) and n not in _RESERVED}
