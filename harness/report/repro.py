"""A repro pack: one failing stage of a report as a folder someone can open without the
harness, e.g. to attach to an upstream TF.js bug report: the stage's input (.npy), a standalone
page that runs just that TF.js step on the run's backend, the Python that gives the reference,
and a README with the numbers.

Built from what the run kept beside its report (`--keep-tensors`: the stage's input, both
sides' outputs, and the step as each side ran it); a debugging tool, apart from the comparator.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness.core import paths
from harness.core.results import Report, RunResult, StageResult

CDN = "https://cdn.jsdelivr.net/npm"
# the page's TF.js files as the pack's vendor/ holds them (the harness's own copy), by backend
VENDOR = {
    "tfjs": "@tensorflow/tfjs/dist/tf.min.js",
    "wasm": "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
    "webgpu": "@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js",
}
WASM_BINARIES = (
    "tfjs-backend-wasm.wasm",
    "tfjs-backend-wasm-simd.wasm",
    "tfjs-backend-wasm-threaded-simd.wasm",
)
TEMPLATES = Path(__file__).parent / "repro_page"


class ReproError(ValueError):
    """What the report cannot give for the pack asked for (a usage error naming it)."""


def choose(report: Report, case: str, stage: str, backend: str | None) -> tuple[RunResult, str]:
    """The run of `case` whose stage (or model layer) `stage` kept its tensors, on `backend`
    (or the only such run). Raises ReproError listing what there is."""
    runs = [(c, r) for c in report.cases for r in c.runs if c.case == case]
    if not runs:
        cases = sorted({c.case for c in report.cases})
        raise ReproError(f"no case {case!r} in the report (cases: {', '.join(cases)})")
    found = []
    for _, run in runs:
        got = _stage(run, stage)
        if got is not None and got.tensors and "not_kept" not in got.tensors:
            found.append(run)
    if backend is not None:
        found = [r for r in found if r.backend == backend]
    if len(found) == 1:
        return found[0], stage
    kept = sorted({f"{r.backend}" for r in found})
    if not found:
        raise ReproError(
            f"case {case!r}: no run kept the tensors of stage {stage!r}"
            + (f" on {backend}" if backend else "")
            + " (runs keep a failing stage's tensors with --keep-tensors failing, the default, "
            "or every stage's with --keep-tensors all)"
        )
    raise ReproError(
        f"case {case!r}, stage {stage!r}: kept on {', '.join(kept)}; name one (--backend)"
    )


def _stage(run: RunResult, name: str) -> StageResult | None:
    for s in run.stages:
        if s.name == name:
            return s
        for la in s.layers:
            if f"{s.name}/{la.name}" == name:
                return la
    return None


def write_pack(
    report_dir: Path, report: Report, run: RunResult, stage_name: str, out: Path
) -> Path:
    """The pack for `stage_name` of `run` in `out` (created). Raises ReproError when the stage
    has no input or step kept (a model layer, a tap: no step of its own to run alone)."""
    stage = _stage(run, stage_name)
    assert stage is not None and stage.tensors is not None
    kept = stage.tensors
    if "input" not in kept or "step" not in kept:
        raise ReproError(
            f"stage {stage_name!r}: its input or step was not kept (a model layer or a code "
            "pipeline's tap has no step of its own to run alone): the pack runs one step"
        )
    step = json.loads((report_dir / kept["step"]).read_text())
    if step["op"] in ("decode", "model"):
        raise ReproError(f"stage {stage_name!r}: a {step['op']} step is not packed (one op only)")
    out.mkdir(parents=True, exist_ok=True)
    for role in ("input", "reference", "candidate", "isolated"):
        if role in kept:
            shutil.copyfile(report_dir / kept[role], out / f"{role}.npy")
    version = report.environment.get("tfjs") or "4.22.0"
    urls = {
        "tfjs": f"{CDN}/@tensorflow/tfjs@{version}/dist/tf.min.js",
        "wasm": f"{CDN}/@tensorflow/tfjs-backend-wasm@{version}/dist/tf-backend-wasm.min.js",
        "wasm_paths": f"{CDN}/@tensorflow/tfjs-backend-wasm@{version}/dist/",
        "webgpu": f"{CDN}/@tensorflow/tfjs-backend-webgpu@{version}/dist/tf-backend-webgpu.min.js",
    }
    module = _page_module(step, out)
    (out / "step.json").write_text(json.dumps({**step, "module": module, "cdn": urls}, indent=2))
    _vendor(out, step["backend"])
    for name in ("repro.html", "repro.js", "npy.js"):
        shutil.copyfile(TEMPLATES / name, out / name)
    shutil.copyfile(paths.PAGE / "shims" / "tfjs.js", out / "tfjs-shim.js")
    (out / "reference.py").write_text(_python(step))
    (out / "README.md").write_text(_readme(report, run, stage, step, version))
    return out


def _page_module(step: dict[str, Any], out: Path) -> str:
    """The step's JS, copied into the pack: the user's module, or the catalogue's ops."""
    if step.get("custom"):
        source = Path(step["custom"]["js_module"])
        shutil.copyfile(source, out / source.name)
        return source.name
    shutil.copyfile(paths.PAGE / "ops.js", out / "ops.js")
    shutil.copyfile(paths.PAGE / "codecs.js", out / "codecs.js")
    return "ops.js"


def _vendor(out: Path, backend: str) -> None:
    """The harness's own TF.js files, as its page loaded them."""
    node = paths.NODE_MODULES
    wanted = ["tfjs"] + ([backend] if backend in ("wasm", "webgpu") else [])
    for key in wanted:
        target = out / "vendor" / Path(VENDOR[key]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(node / VENDOR[key], target)
    if backend == "wasm":
        for name in WASM_BINARIES:
            shutil.copyfile(
                node / "@tensorflow/tfjs-backend-wasm/dist" / name, out / "vendor" / name
            )


def _python(step: dict[str, Any]) -> str:
    settings = json.dumps(step["python"], indent=4)
    if step.get("custom"):
        file, _, function = step["custom"]["python"].rpartition(":")
        base = step["custom"]["python_base"]
        load = (
            "import importlib.util\n"
            f"path = Path({base!r}) / {file!r}  # your op's file\n"
            "spec = importlib.util.spec_from_file_location('user_op', path)\n"
            "module = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(module)\n"
            f"op = module.{function}\n"
        )
    else:
        load = (
            "from harness.ops.catalogue import PYTHON_OPS  # pip install tfjs-parity\n"
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
        "worst = float(np.max(np.abs(y - reference))) if y.size else 0.0\n"
        "print('max |python - reference.npy|', worst)\n"
    )


def _readme(
    report: Report, run: RunResult, stage: StageResult, step: dict[str, Any], version: str
) -> str:
    browser = report.environment.get("browsers", {}).get(run.browser, {}).get("version", "?")
    iso, chained = stage.isolated, stage.chained

    def figures(m: Any) -> str:
        if m is None:
            return "not compared"
        return (
            f"max |js - python| {m.max_abs:.6g}, max ULP {m.max_ulp}, {m.mismatched} of "
            f"{m.total} elements beyond the tolerance, worst at index {m.worst_index} "
            f"(python {m.worst_reference!r}, js {m.worst_candidate!r})"
        )

    return f"""# TF.js step `{step["stage"]}` ({step["op"]}) on {run.backend}: repro

What tfjs-parity measured (browser {run.browser} {browser}, TF.js {version}, backend
`{run.backend}`, flags {json.dumps(step["flags"])}):

- the step alone, fed the Python input (`input.npy`): {figures(iso)}
- end to end: {figures(chained)}
- verdict: {stage.verdict}; own error: {stage.own_verdict} ({stage.own_error_class})
- TF.js settings: `{json.dumps(step["js"])}`; Python settings: `{json.dumps(step["python"])}`

Files: `input.npy` (the step's input, as the harness fed it; float64 becomes float32 in the
page), `reference.npy` (Python's output), `isolated.npy` (TF.js's output alone on that input,
as the harness read it), `candidate.npy` (TF.js's output end to end), `repro.html` + `repro.js`
(the step alone, in any browser), `reference.py` (Python's side), `step.json`.

Run the page: serve this folder (`python3 -m http.server 8000`) and open
`http://localhost:8000/repro.html`. It loads TF.js from `vendor/` (the copy the harness ran);
`repro.html?tfjs=cdn` loads TF.js {version} from jsDelivr instead, and `?tfjs=URL` (with
`&wasm=URL&wasmPaths=URL` or `&webgpu=URL`) any other build, e.g. a newer release to see
whether it is fixed. `?backend=NAME` runs another backend. The page prints the output's
largest difference from `reference.npy` and from `isolated.npy` (0 when it reproduces the
harness's numbers), and offers the output as `output.npy`.

Run the Python side: `python3 reference.py`.
"""
