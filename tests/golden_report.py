"""The bundled suite's report.json as content: what a refactoring must leave unchanged.

Content is everything but timings, resources and the environment (versions, renderer strings):
statuses, verdicts, classes, stages, layers, hints and messages exactly; integers exactly (shapes,
indices, counts of layers), except the counts that float rounding moves (ULP distances and how
many elements mismatch); other numbers, also those inside messages (there, integers under 1000
exactly), to a relative 1e-2. Numbers are not compared bit for bit because numpy's and
TF's float kernels pick SIMD paths by CPU (AVX2, AVX-512, FMA), so the last bits of a reference,
and with them an error of 1e-7, differ between x86 machines; a change of content changes far
more than that.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden" / "bundled-report.json.gz"
BACKENDS = ("cpu", "wasm")  # deterministic by specification; no GPU emulation
RTOL = 1e-2
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# integers that float rounding moves: compared as numbers, to RTOL
_ROUNDED_COUNTS = frozenset({"max_ulp", "ulp", "mismatched", "nonfinite_mismatched"})
# in a message, integers under this are exact (indices, counts); larger ones may be ULP counts
_EXACT_INT = 1000


REPO = Path(__file__).parent.parent


def content(report: dict[str, Any], repo: Path = REPO) -> dict[str, Any]:
    """The report without what varies between runs, machines and checkouts (the checkout's
    path, in the cases' source files, is written as <repo>)."""
    report = _relative(report, str(repo))
    out = {k: v for k, v in report.items() if k not in ("timings", "resources", "environment")}
    out["cases"] = [
        {
            **case,
            "runs": [
                {k: v for k, v in run.items() if k != "timings"}
                for run in case["runs"]
                if run["backend"] in BACKENDS
            ],
        }
        for case in report["cases"]
    ]
    out["model_outputs"] = [m for m in report.get("model_outputs", []) if m["backend"] in BACKENDS]
    return out


def _relative(value: Any, root: str) -> Any:
    if isinstance(value, str):
        return value.replace(root, "<repo>")
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    return value


def load() -> dict[str, Any]:
    with gzip.open(GOLDEN, "rt") as f:
        return json.load(f)


def save(report: dict[str, Any]) -> None:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(content(report), sort_keys=True).encode()
    GOLDEN.write_bytes(gzip.compress(data, mtime=0))


def differences(golden: Any, new: Any, where: str = "") -> list[str]:
    """Where `new` differs from `golden` in content: a list of 'path: golden != new'."""
    if isinstance(golden, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(golden) | set(new)):
            if k not in new:
                out.append(f"{where}.{k}: missing (golden {_short(golden[k])})")
            elif k not in golden:
                out.append(f"{where}.{k}: new ({_short(new[k])})")
            else:
                out += differences(golden[k], new[k], f"{where}.{k}")
        return out
    if isinstance(golden, list) and isinstance(new, list):
        if len(golden) != len(new):
            return [f"{where}: {len(golden)} items != {len(new)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(golden, new, strict=True))
            for d in differences(a, b, f"{where}[{_key(a, i)}]")
        ]
    if isinstance(golden, str) and isinstance(new, str):
        return [] if _same_text(golden, new) else [f"{where}: {golden!r} != {new!r}"]
    if _number(golden) and _number(new):
        rounded = where.rsplit(".", 1)[-1] in _ROUNDED_COUNTS
        if isinstance(golden, int) and isinstance(new, int) and not rounded:
            same = golden == new
        else:
            same = _same_number(golden, new)
        return [] if same else [f"{where}: {golden!r} != {new!r}"]
    return [] if golden == new else [f"{where}: {_short(golden)} != {_short(new)}"]


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _same_number(a: float, b: float) -> bool:
    if isinstance(a, int) and isinstance(b, int) and max(abs(a), abs(b)) < _EXACT_INT:
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=0.0) or a == b


def _same_text(a: str, b: str) -> bool:
    if a == b:
        return True
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    return all(
        _same_number(_parse(x), _parse(y))
        for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b), strict=True)
    )


def _parse(token: str) -> float:
    return int(token) if token.lstrip("+-").isdigit() else float(token)


def _key(item: Any, i: int) -> str:
    if isinstance(item, dict):
        for k in ("name", "backend", "case", "pipeline"):
            if isinstance(item.get(k), str):
                return f"{k}={item[k]}"
    return str(i)


def _short(x: Any) -> str:
    s = json.dumps(x)
    return s if len(s) < 80 else s[:77] + "..."
