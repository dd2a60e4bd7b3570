"""The texts of a repro pack: the Python snippet that gives the reference, and the README."""

from __future__ import annotations

import json
import pprint
from pathlib import Path
from typing import Any

from harness.core.results import Report, RunResult, StageResult
from harness.report.repro_files import copy_tree


def python_snippet(step: dict[str, Any], out: Path) -> str:
    settings = pprint.pformat(step["python"], indent=4)
    if step.get("custom"):
        target, _, function = step["custom"]["python"].rpartition(":")
        if target.endswith(".py"):
            file = (Path(step["custom"]["python_base"]) / target).resolve()
            copy_tree(file.parent, out / "py", (".py",), out)
            load = (
                "import importlib.util\nimport sys\n\n"
                "sys.path.insert(0, str(Path(__file__).parent / 'py'))  # your op's folder\n"
                f"file = Path(__file__).parent / 'py' / {file.name!r}\n"
                "spec = importlib.util.spec_from_file_location('op', file)\n"
                "module = importlib.util.module_from_spec(spec)\n"
                "spec.loader.exec_module(module)\n"
                f"op = getattr(module, {function!r})\n"
            )
        else:
            load = (
                "import importlib\n\n"
                f"# {target} must be importable (on PYTHONPATH), as when the harness ran it\n"
                f"op = getattr(importlib.import_module({target!r}), {function!r})\n"
            )
    else:
        load = (
            "from harness.ops.catalogue import PYTHON_OPS  # pip install tfjs-parity\n\n"
            f"op = PYTHON_OPS[{step['op']!r}]\n"
        )
    return (
        f'"""The Python reference of step {step["stage"]!r}: its op on input.npy, as the\n'
        'harness ran it; writes python.npy and compares it with reference.npy."""\n\n'
        "from pathlib import Path\n\nimport numpy as np\n\n"
        f"{load}\n"
        f"settings = {settings}\n"
        "here = Path(__file__).parent\n"
        "x = np.load(here / 'input.npy')\n"
        "y = np.asarray(op(x, **settings))\n"
        "np.save(here / 'python.npy', y)\n"
        "reference = np.load(here / 'reference.npy')\n"
        "print('shape', y.shape, 'dtype', y.dtype)\n"
        "a, b = y.astype(np.float64), reference.astype(np.float64)\n"
        "d = np.abs(a - b)\n"
        "d[np.isnan(a) & np.isnan(b)] = 0  # NaN where both have NaN: alike\n"
        "print('max |python - reference.npy|', float(np.max(d)) if d.size else 0.0)\n"
    )


def readme(
    report: Report, run: RunResult, stage: StageResult, step: dict[str, Any], version: str
) -> str:
    browser = report.environment.get("browsers", {}).get(run.browser, {}).get("version", "?")
    iso, chained = stage.isolated, stage.chained
    python = run.reference == "python"
    ref = "python" if python else run.reference  # what the candidate was compared with

    def figures(m: Any) -> str:
        if m is None:
            return "not compared"
        return (
            f"max |js - {ref}| {m.max_abs:.6g}, max ULP {m.max_ulp}, {m.mismatched} of "
            f"{m.total} elements beyond the tolerance, worst at index {m.worst_index} "
            f"({ref} {m.worst_reference!r}, js {m.worst_candidate!r})"
        )

    fed = "the Python input" if python else f"the input {run.reference} computed"
    reference = (
        "Python's output"
        if python
        else f"the output of {run.reference}, the run's reference "
        "(backend vs backend: no Python side, so no reference.py)"
    )
    return f"""# TF.js step `{step["stage"]}` ({step["op"]}) on {run.backend}: repro

What tfjs-parity measured (browser {run.browser} {browser}, TF.js {version}, backend
`{run.backend}`, flags {json.dumps(step["flags"])}), compared with {ref}:

- the step alone, fed {fed} (`input.npy`): {figures(iso)}
- end to end: {figures(chained)}
- verdict: {stage.verdict}; own error: {stage.own_verdict} ({stage.own_error_class})
- TF.js settings: `{json.dumps(step["js"])}`; Python settings: `{json.dumps(step["python"])}`

Files: `input.npy` (the step's input, as the harness fed it; float64 becomes float32 in the
page), `reference.npy` ({reference}), `isolated.npy` (TF.js's output alone on that input, as
the harness read it), `candidate.npy` (TF.js's output end to end), `repro.html` + `repro.js`
(the step alone, in any browser), `reference.py` (Python's side), `step.js` (the step as
both sides ran it).

Run the page: in this folder, `python3 serve.py` (a static server that also sends the
cross-origin isolation headers the harness's page has, so wasm can use threads as it did
there), and open `http://localhost:8000/repro.html`. It loads TF.js from `vendor/` (the copy
the harness ran); `repro.html?tfjs=cdn` loads TF.js {version} from jsDelivr instead, and
`?tfjs=URL` (with `&wasm=URL&wasmPaths=URL` or `&webgpu=URL` for those backends) any other
build, e.g. a newer release to see whether it is fixed. `?backend=NAME` runs another backend.
The page prints the output's largest difference from `reference.npy` and from `isolated.npy`
(0 when it reproduces the harness's numbers; NaN where both have NaN counts as equal) and
offers the output as `output.npy`.

Run the Python side: `python3 reference.py`.
"""
