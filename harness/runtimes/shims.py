"""The page's import-map shims (web/page/shims/, written by web/scripts/make-shims.mjs): each
an ES module exporting every name of one of the page's global libraries, so a user's module can
`import * as tf from '@tensorflow/tfjs'` as their app does and get the very TF.js the harness
set the backend of. Here: writing them when they are missing or were made from another npm tree
or script, what a shim exports, and what the page's global really holds (for the test that
checks the two agree)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness.core import paths

SHIMS = paths.PAGE / "shims"
MAKER = paths.WEB / "scripts" / "make-shims.mjs"
# what the files were made from (the npm lock, the script) and what they hold, as hashes
STAMP = SHIMS / ".made-from"


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


def _digest(*files: Path) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes() if file.is_file() else b"(missing)")
    return digest.hexdigest()


def _stamp(files: list[Path]) -> str:
    return json.dumps(
        {
            "made_from": _digest(paths.WEB / "package-lock.json", MAKER),
            "files": {f.name: _digest(f) for f in files},
        },
        sort_keys=True,
    )


def ensure() -> None:
    """Writes web/page/shims/ unless every file is there and was made from this npm lock and
    this script (Node.js runs the script: about 0.5 s). Without them a user's module that
    imports '@tensorflow/tfjs' fails to load with a message that names the user's module, not
    the missing shim. Raises ShimsError saying what to do."""
    files = [SHIMS / file for _, file in GLOBALS.values()]
    if STAMP.is_file() and STAMP.read_text() == _stamp(files):  # also: no file was changed
        return
    node = shutil.which("node")
    if node is None:
        raise ShimsError(
            f"{SHIMS} is missing or out of date and Node.js is not installed to write it: "
            "install nodejs (bin/tfjs-parity and bin/test do)"
        )
    done = subprocess.run([node, str(MAKER)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        # Node's first line that names the error (EACCES, ENOTDIR...), not its stack
        said = next((line for line in done.stderr.splitlines() if "Error" in line), "")
        raise ShimsError(
            f"cannot write {SHIMS}, the import-map shims users' JS modules import TF.js "
            f"through: {said.strip() or done.stderr.strip()[-500:]}"
        )
    try:
        temporary = STAMP.with_name(f"{STAMP.name}.{os.getpid()}")
        temporary.write_text(_stamp(files))
        temporary.replace(STAMP)
    except OSError as e:
        raise ShimsError(f"cannot write {STAMP}: {e.strerror}") from None


def exported(path: Path) -> set[str]:
    """The names a shim file exports (besides its default)."""
    return set(_EXPORTED.findall(path.read_text()))


def page_names(page: Any, global_name: str) -> set[str]:
    """The names of the page's global `global_name` that an ES module can export."""
    names = page.evaluate(f"() => Object.keys(globalThis.{global_name})")
    return {n for n in names if _IDENTIFIER.match(n) and n not in _RESERVED}
