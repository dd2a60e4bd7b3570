"""A repro pack: one failing stage of a report as a folder someone can open without the
harness, e.g. to attach to an upstream TF.js bug report: the stage's input (.npy), a standalone
page that runs just that TF.js step on the run's backend, the Python that gives the reference,
and a README with the numbers.

Built from what the run kept beside its report (`--keep-tensors`: the stage's input, both
sides' outputs, and the step as each side ran it); a debugging tool, apart from the comparator.
"""

from __future__ import annotations

import json
import os
import pprint
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


def choose(
    report: Report, case: str, stage: str, backend: str | None, pipeline: str | None = None
) -> tuple[RunResult, str]:
    """The run of `case` (of `pipeline`, when given) whose stage (or model layer, as
    "step/layer") `stage` kept its tensors, on `backend` (or the only such run). Raises
    ReproError saying what there is: no such case or stage, why a stage was not kept, which
    runs to choose from."""
    runs = [
        (c, r)
        for c in report.cases
        for r in c.runs
        if c.case == case and (pipeline is None or c.pipeline == pipeline)
    ]
    if not runs:
        cases = sorted({c.case for c in report.cases if pipeline in (None, c.pipeline)})
        where = f" of pipeline {pipeline!r}" if pipeline else ""
        raise ReproError(f"no case {case!r}{where} in the report (cases: {', '.join(cases)})")
    if backend is not None:
        runs = [(c, r) for c, r in runs if r.backend == backend]
        if not runs:
            raise ReproError(f"case {case!r}: no run on {backend!r} in the report")
    stages = [(c, r, _stage(r, stage)) for c, r in runs]
    if all(s is None for _, _, s in stages):
        names = sorted({s.name for _, r in runs for s in r.stages})
        raise ReproError(f"case {case!r}: no stage {stage!r} (stages: {', '.join(names)})")
    found = [(c, r) for c, r, s in stages if s is not None and _kept(s)]
    if len(found) == 1:
        return found[0][1], stage
    if not found:
        why = {
            s.tensors["not_kept"]
            for _, _, s in stages
            if s and s.tensors and "not_kept" in s.tensors
        }
        raise ReproError(
            f"case {case!r}: the tensors of stage {stage!r} were not kept: "
            + ("; ".join(sorted(why)) if why else "runs keep them for failing stages of runs "
               "that do not pass (--keep-tensors failing, the default), or for every stage "
               "(--keep-tensors all)")
        )  # fmt: skip
    kept = ", ".join(sorted(f"pipeline {c.pipeline!r} on {r.backend}" for c, r in found))
    raise ReproError(
        f"case {case!r}, stage {stage!r}: kept by {kept}; name one (--pipeline, --backend)"
    )


def _kept(stage: StageResult) -> bool:
    return bool(stage.tensors) and "not_kept" not in (stage.tensors or {})


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
    is no step of its own (the case's input, a model layer, a tap), is a decode or model step,
    or its kept files are gone; OSError when `out` cannot be written."""
    stage = _stage(run, stage_name)
    assert stage is not None and stage.tensors is not None
    kept = stage.tensors
    if stage_name == "input":
        raise ReproError("stage 'input' is what the pipeline starts from, not a step: no repro")
    if "input" not in kept or "step" not in kept:
        raise ReproError(
            f"stage {stage_name!r} is no step of its own (a model layer, a tap of your code): "
            "the pack runs one step alone, fed its input"
        )
    gone = [p for p in kept.values() if not (report_dir / p).is_file()]
    if gone:
        raise ReproError(f"the kept file(s) {', '.join(gone)} are no longer in {report_dir}")
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
    _vendor(out)
    for name in ("repro.html", "repro.js", "npy.js", "serve.py"):
        shutil.copyfile(TEMPLATES / name, out / name)
    shutil.copyfile(paths.PAGE / "shims" / "tfjs.js", out / "tfjs-shim.js")
    shutil.copyfile(paths.PAGE / "shims" / "dicom-parser.js", out / "dicom-parser-shim.js")
    if run.reference == "python":
        (out / "reference.py").write_text(_python(step, out))
    (out / "README.md").write_text(_readme(report, run, stage, step, version))
    return out


def _page_module(step: dict[str, Any], out: Path) -> str:
    """The step's JS, copied into the pack: the user's module with the files of its folder
    (the modules it imports), or the catalogue's ops and what they read."""
    if step.get("custom"):
        source = Path(step["custom"]["js_module"])
        _copy_tree(source.parent, out / "op", (".js", ".mjs", ".json", ".wasm"), out)
        return f"op/{source.name}"
    for name in ("ops.js", "codecs.js", "codecs.json"):
        shutil.copyfile(paths.PAGE / name, out / name)
    return "ops.js"


SKIPPED = {"node_modules", "__pycache__", "site-packages", "venv"}


def _copy_tree(source: Path, target: Path, suffixes: tuple[str, ...], pack: Path) -> None:
    """The files of `source` and the folders below it with these suffixes (hidden folders,
    environments, node_modules, report folders and the pack itself left out)."""
    for here, dirs, files in os.walk(source):
        dirs[:] = [
            d for d in dirs
            if not d.startswith(".") and d not in SKIPPED
            and not (Path(here) / d / "pyvenv.cfg").exists()
            and not (Path(here) / d / "report.json").exists()
            and (Path(here) / d).resolve() != pack.resolve()
        ]  # fmt: skip
        for f in files:
            if f.endswith(suffixes):
                to = target / Path(here).relative_to(source) / f
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(here) / f, to)


def _vendor(out: Path) -> None:
    """The harness's own TF.js files, as its page loaded them, for every backend."""
    node = paths.NODE_MODULES
    (out / "vendor").mkdir(parents=True, exist_ok=True)
    for path in VENDOR.values():
        shutil.copyfile(node / path, out / "vendor" / Path(path).name)
    for name in WASM_BINARIES:
        shutil.copyfile(node / "@tensorflow/tfjs-backend-wasm/dist" / name, out / "vendor" / name)
    shutil.copyfile(
        node / "dicom-parser/dist/dicomParser.min.js", out / "vendor" / "dicomParser.min.js"
    )


def _python(step: dict[str, Any], out: Path) -> str:
    settings = pprint.pformat(step["python"], indent=4)
    if step.get("custom"):
        target, _, function = step["custom"]["python"].rpartition(":")
        if target.endswith(".py"):
            file = (Path(step["custom"]["python_base"]) / target).resolve()
            _copy_tree(file.parent, out / "py", (".py",), out)
            load = (
                "import sys\n\n"
                "sys.path.insert(0, str(Path(__file__).parent / 'py'))  # your op's folder\n"
                f"from {file.stem} import {function} as op  # noqa: E402\n"
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


def _readme(
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
(the step alone, in any browser), `reference.py` (Python's side), `step.json`.

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
