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
    says in the user's terms what changed when it differs): the case's input bytes and
    settings, each step's op and Python settings (a file named by path stands for its bytes)
    and the user's function; for a code pipeline its function and the case file's bytes and
    path (the function is given the path: a folder can be a label), relative to the pipeline
    file's folder."""
    if isinstance(pipeline, CodePipeline):
        source = Path(case.meta.get("source", case.id))
        base = Path(pipeline.source).parent if pipeline.source else Path.cwd()
        relative = os.path.relpath(source, base) if source.is_absolute() else str(source)
        return {
            "the user's Python function": _sha(_function_identity(pipeline)),
            "the case file's bytes": _sha(np.ascontiguousarray(case.file).data),
            "the case file's path": _sha(relative),
        }
    out = {"the case's input": _input_sha(pipeline.input_of(case))}
    out["the case's settings"] = _sha(json.dumps(case.params, sort_keys=True, default=str))
    out["the steps"] = _sha(json.dumps([s.name for s in pipeline.steps]))
    for s in pipeline.steps:
        what = [s.op, content.portable(s.python), s.custom and _identity(s.custom)]
        out[f"step {s.name!r}"] = _sha(json.dumps(what, sort_keys=True, default=str))
    return out


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
