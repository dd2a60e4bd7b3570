"""Which decoder each side uses for a compressed transfer syntax: web/page/codecs.json, the one
table the page reads too, so the report names what really ran on both sides."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from harness.core import paths, versions

TABLE = paths.PAGE / "codecs.json"
OURS = "tfjs-parity"  # a codec the page implements itself (RLE)


@dataclass(frozen=True)
class Codec:
    syntax: str
    name: str
    js_package: str
    python_plugin: str  # pydicom's decoding plugin
    python_package: str  # the distribution that plugin decodes with


@cache
def table() -> dict[str, Codec]:
    syntaxes = json.loads(TABLE.read_text())["syntaxes"]
    return {
        uid: Codec(uid, entry["name"], entry["js"], *entry["python"])
        for uid, entry in syntaxes.items()
    }


def for_syntax(uid: str) -> Codec | None:
    """The codecs of a compressed syntax both sides decode; None for native or unknown ones."""
    return table().get(uid)


def python_decoder(uid: str, plugin: str | None = None) -> str:
    """pydicom, and for a compressed syntax the package its plugin (`plugin`, or the table's)
    decodes with."""
    pydicom = f"pydicom {versions.python('pydicom')}"
    codec = for_syntax(uid)
    if codec is None:
        return pydicom
    package = {
        None: codec.python_package,
        "pylibjpeg": codec.python_package if codec.python_plugin == "pylibjpeg" else "pylibjpeg",
        "pillow": "pillow",
        "pydicom": "pydicom",
    }[plugin]
    if package == "pydicom":
        return pydicom
    return f"{pydicom} + {package} {versions.python(package)}"


def js_decoder(uid: str) -> str:
    parser = f"dicom-parser {versions.npm('dicom-parser')}"
    codec = for_syntax(uid)
    if codec is None:
        return parser
    if codec.js_package == OURS:
        return f"{parser} + tfjs-parity's own {codec.name} decoder (web/page/codecs.js)"
    return f"{parser} + {codec.js_package} {versions.npm(codec.js_package)}"
