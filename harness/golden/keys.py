"""What a reference output is cached and recorded by: what the Python side's outputs depend
on, part by part, so a record can say which part changed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from harness.core import content
from harness.specs.cases import Case
from harness.specs.code_pipeline import CodePipeline, CustomOp
from harness.specs.spec import Pipeline


def reference_key(pipeline: Pipeline | CodePipeline, case: Case) -> str:
    """What a reference output is cached and recorded by: a hash of `reference_components`.
    Content, not names: two pipelines called alike, or two files called scan.dcm, differ; the
    same files in another checkout at another path do not."""
    return components_key(reference_components(pipeline, case))


def components_key(components: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(components, sort_keys=True).encode()).hexdigest()


def reference_components(pipeline: Pipeline | CodePipeline, case: Case) -> dict[str, str]:
    """What the Python side's outputs depend on, part by part (each a hash, by a name that
    says in the user's terms what changed when it differs): the case's input bytes, the steps'
    names, each step's op and Python settings with the case's values filled in (so a
    statistics table counts only where a step uses it; a file named by path stands for its
    bytes, a TF.js model's JSON for it and its weight files), and a custom op's Python code;
    for a code pipeline its function and the case file's bytes and path (the function is given
    the path: a folder can be a label), relative to the pipeline file's folder. Raises
    PipelineSpecError when the case lacks a value a step asks for."""
    if isinstance(pipeline, CodePipeline):
        source = Path(case.meta.get("source", case.id)).absolute()
        base = Path(pipeline.source).absolute().parent if pipeline.source else Path.cwd()
        return {
            "the user's Python function": _sha(_function_identity(pipeline)),
            "the case file's bytes": _sha(np.ascontiguousarray(case.file).data),
            "the case file's path": _sha(os.path.relpath(source, base)),
        }
    out = {"the case's input": _input_sha(pipeline.input_of(case))}
    out["the steps"] = _sha(json.dumps([s.name for s in pipeline.steps]))
    for s in pipeline.steps:
        settings = s.settings("python", case.params)
        if s.op == "model":
            settings = {**settings, "path": _model_sha(Path(settings["path"]))}
        what = [s.op, content.portable(settings)]
        out[f"step {s.name!r}"] = _sha(json.dumps(what, sort_keys=True, default=str))
        if s.custom is not None:
            out[f"the Python code of step {s.name!r}"] = _sha(_identity(s.custom))
    return out


def _model_sha(path: Path) -> str:
    """A model file or folder by its bytes; a TF.js model's JSON with the weight files its
    manifest names (retrained weights keep the same JSON)."""
    try:
        if path.is_file() and path.suffix == ".json":
            h = hashlib.sha256(path.read_bytes())
            manifest = json.loads(path.read_text()).get("weightsManifest", [])
            for group in manifest if isinstance(manifest, list) else []:
                for name in group.get("paths", []) if isinstance(group, dict) else []:
                    weights = path.parent / str(name)
                    h.update(weights.read_bytes() if weights.is_file() else b"missing")
            return f"sha256:{h.hexdigest()}"
        return f"sha256:{content.file_sha(path)}"
    except (OSError, ValueError, AttributeError):
        return str(path)  # unreadable: the run says why; the key stays what it can be


def _sha(data: str | bytes | memoryview) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _input_sha(start: object) -> str:
    h = hashlib.sha256()
    for name, a in sorted(start.items()) if isinstance(start, dict) else [("", start)]:
        h.update(str((name, a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _identity(op: CustomOp) -> str:
    """A user's op's Python function by what it is (its file, content and name, as the
    pipeline file was read), or for an op built in code the function itself."""
    return op.python_identity or repr(op.python_function)


def _function_identity(pipeline: CodePipeline) -> str:
    return pipeline.python_identity or repr(pipeline.python_function)  # built in code
