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

from harness.core import content, paths
from harness.core.results import Report, RunResult, StageResult
from harness.report.repro_files import copy_tree
from harness.report.repro_texts import python_snippet, readme

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
    report: Report,
    case: str,
    stage: str,
    backend: str | None,
    pipeline: str | None = None,
    browser: str | None = None,
) -> tuple[RunResult, str]:
    """The run of `case` (of `pipeline`, when given) whose stage (or model layer, as
    "step/layer") `stage` kept its tensors, on `backend` in `browser` (or the only such run).
    Raises
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
    if browser is not None:
        runs = [(c, r) for c, r in runs if r.browser == browser]
        if not runs:
            raise ReproError(f"case {case!r}: no run in {browser!r} in the report")
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
    kept = ", ".join(
        sorted(f"pipeline {c.pipeline!r} on {r.browser} {r.backend}" for c, r in found)
    )
    raise ReproError(
        f"case {case!r}, stage {stage!r}: kept by {kept}; name one (--pipeline, --browser, "
        "--backend)"
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
    root = report_dir.resolve()
    outside = [p for p in kept.values() if not (report_dir / p).resolve().is_relative_to(root)]
    if outside:  # a report names its own files only
        raise ReproError(f"the report names files outside its folder: {', '.join(outside)}")
    gone = [p for p in kept.values() if not (report_dir / p).is_file()]
    if gone:
        raise ReproError(f"the kept file(s) {', '.join(gone)} are no longer in {report_dir}")
    step = json.loads((report_dir / kept["step"]).read_text())
    if step["op"] in ("decode", "model"):
        raise ReproError(f"stage {stage_name!r}: a {step['op']} step is not packed (one op only)")
    _check_code(step)
    if out.exists() and any(out.iterdir()):
        if not (out / "repro.html").is_file():
            raise ReproError(f"--out {out}: a folder holding other files, not a repro pack")
        shutil.rmtree(out)  # an earlier pack of it: none of its files may stay
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
    # a JS module, not JSON: settings may hold NaN or Infinity, which JSON cannot
    described = json.dumps({**step, "module": module, "cdn": urls}, indent=2)
    (out / "step.js").write_text(f"export default {described};\n")
    _vendor(out)
    for name in ("repro.html", "repro.js", "npy.js", "serve.py"):
        shutil.copyfile(TEMPLATES / name, out / name)
    shutil.copyfile(paths.PAGE / "shims" / "tfjs.js", out / "tfjs-shim.js")
    shutil.copyfile(paths.PAGE / "shims" / "dicom-parser.js", out / "dicom-parser-shim.js")
    if run.reference == "python":
        (out / "reference.py").write_text(python_snippet(step, out))
    (out / "README.md").write_text(readme(report, run, stage, step, version))
    return out


def _page_module(step: dict[str, Any], out: Path) -> str:
    """The step's JS, copied into the pack: the user's module with the files of its folder
    (the modules it imports), or the catalogue's ops and what they read."""
    if step.get("custom"):
        source = Path(step["custom"]["js_module"])
        roots = [Path(r) for r in step["custom"].get("serve", []) if source.is_relative_to(r)]
        root = roots[0] if roots else source.parent  # what the page could load, imports too
        copy_tree(root, out / "op", (".js", ".mjs", ".json", ".wasm"), out)
        return f"op/{source.relative_to(root).as_posix()}"
    for name in ("ops.js", "codecs.js", "codecs.json"):
        shutil.copyfile(paths.PAGE / name, out / name)
    return "ops.js"


def _check_code(step: dict[str, Any]) -> None:
    """The user's op files as the run ran them: there, and unchanged (by the hashes kept with
    the step). Raises ReproError naming the file."""
    custom = step.get("custom")
    if not custom:
        return
    target = custom["python"].rpartition(":")[0]
    files = [(Path(custom["js_module"]), custom.get("js_sha"))]
    if target.endswith(".py"):
        files.append(((Path(custom["python_base"]) / target).resolve(), custom.get("python_sha")))
    for path, sha in files:
        if not path.is_file():
            raise ReproError(
                f"{path}: the op's file is not there (was the report made in another checkout? "
                "run repro where the run was)"
            )
        if sha is not None and content.file_sha(path) != sha:
            raise ReproError(f"{path}: the op's file changed since the run; run it again first")


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
