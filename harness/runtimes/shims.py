"""The page's import-map shims (web/page/shims/, written by web/scripts/make-shims.mjs): each
an ES module exporting every name of one of the page's global libraries, so a user's module can
`import * as tf from '@tensorflow/tfjs'` as their app does and get the very TF.js the harness
set the backend of. Here: writing them when they are missing or were made from another npm tree
or script, what a shim exports, and what the page's global really holds (for the test that
checks the two agree)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness.core import paths

SHIMS = paths.PAGE / "shims"
MAKER = paths.WEB / "scripts" / "make-shims.mjs"
STAMP = SHIMS / ".made-from"  # the hash of the npm lock and the script the files were made by


class ShimsError(RuntimeError):
    """The shims cannot be written here (no Node.js, or the script failed)."""


# bare import specifier -> (the page's global, shim file)
GLOBALS = {
    "@tensorflow/tfjs": ("tf", "tfjs.js"),
    "dicom-parser": ("dicomParser", "dicom-parser.js"),
}
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")
_RESERVED = {"default", "delete", "new", "function", "class", "enum", "import", "export"}
_EXPORTED = re.compile(r"^  ([A-Za-z_$][\w$]*),$", re.MULTILINE)


def _made_from() -> str:
    digest = hashlib.sha256()
    for source in (paths.WEB / "package-lock.json", MAKER):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def ensure() -> None:
    """Writes web/page/shims/ unless every file is there and was made from this npm lock and
    this script (Node.js runs the script: about 0.5 s). Without them a user's module that
    imports '@tensorflow/tfjs' fails to load with a message that names the user's module, not
    the missing shim. Raises ShimsError saying what to do."""
    want = _made_from()
    files = [SHIMS / file for _, file in GLOBALS.values()]
    if all(f.is_file() for f in files) and STAMP.is_file() and STAMP.read_text() == want:
        return
    node = shutil.which("node")
    if node is None:
        raise ShimsError(
            f"{SHIMS} is missing or out of date and Node.js is not installed to write it: "
            "install nodejs (bin/tfjs-parity and bin/test do)"
        )
    done = subprocess.run([node, str(MAKER)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ShimsError(f"{MAKER} failed: {done.stderr.strip()[-2000:]}")
    temporary = STAMP.with_name(f"{STAMP.name}.{os.getpid()}")
    temporary.write_text(want)
    temporary.replace(STAMP)


def exported(path: Path) -> set[str]:
    """The names a shim file exports (besides its default)."""
    return set(_EXPORTED.findall(path.read_text()))


def page_names(page: Any, global_name: str) -> set[str]:
    """The names of the page's global `global_name` that an ES module can export."""
    names = page.evaluate(f"() => Object.keys(globalThis.{global_name})")
    return {n for n in names if _IDENTIFIER.match(n) and n not in _RESERVED}
