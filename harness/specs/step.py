"""One step of a pipeline (Step) and its entry in the pipeline file read and checked: a catalogue
op's settings validated per side against its schema (model paths resolved against the file, the
model's format settled), a user's op's settings, and the step's tolerance settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare.tolerance import check_fields
from harness.specs.code_pipeline import CustomOp, check_settings
from harness.specs.model_files import ModelFileError, tfjs_format
from harness.specs.op_schemas import SCHEMAS
from harness.specs.params import PipelineSpecError, resolve, validate
from harness.specs.variants import parse_variant

SIDES = ("python", "js")


@dataclass(frozen=True)
class Step:
    name: str
    op: str
    python: dict[str, Any]  # validated settings, defaults filled in
    js: dict[str, Any]
    # tolerance policy settings for this stage: KEYS of compare.tolerance, plus
    # "backends": {variant: {...}} for settings that apply to one backend variant only
    tolerance: dict[str, Any] = field(default_factory=dict)
    custom: CustomOp | None = None  # the user's op this step runs (not the catalogue's)

    def settings(self, side: str, case_params: Mapping[str, Any]) -> dict[str, Any]:
        return resolve(getattr(self, side), case_params, f"step {self.name!r} ({side})")


def parse_step(raw: Any, where: str, base: Path, custom: dict[str, CustomOp]) -> Step:
    if not isinstance(raw, dict):
        raise PipelineSpecError(f"{where}: a step is an object")
    only_keys(raw, {"name", "op", "params", "tolerance", *SIDES}, where)
    op = raw.get("op")
    if op not in SCHEMAS and op not in custom:
        known = ", ".join([*SCHEMAS, *custom])
        raise PipelineSpecError(
            f"{where}.op: {op!r} is not in the catalogue nor the file's ops ({known})"
        )
    name = raw.get("name", op)
    if not isinstance(name, str) or not name:
        raise PipelineSpecError(f"{where}.name: must be a non-empty string")
    if "/" in name:  # "step/layer" names a model's layers, "input/name" a case's inputs
        raise PipelineSpecError(
            f"{where}.name: {name!r}: a step's name holds no '/' (it names a model's layers, "
            "'step/layer')"
        )
    if op in custom:
        return _custom_step(raw, name, custom[op], where)
    schema = SCHEMAS[op]
    common = object_field(raw, "params", where)
    per_side = {}
    for side in SIDES:
        own = object_field(raw, side, where)
        given = {**common, **own}
        side_schema = {**schema.common, **getattr(schema, side)}
        per_side[side] = validate(side_schema, given, f"{where}.{side}")
        if side == "python" and schema.check_python:
            schema.check_python(given, per_side[side], f"{where}.python")
    if op == "model":
        _resolve_model(per_side, base, where)
    return Step(
        name=name,
        op=op,
        python=per_side["python"],
        js=per_side["js"],
        tolerance=parse_tolerance(raw.get("tolerance", {}), f"{where}.tolerance"),
    )


def _custom_step(raw: dict, name: str, op: CustomOp, where: str) -> Step:
    """A user's op: `params` go to both sides, `python` / `js` to one; the Python function's
    signature says which settings it takes (the JS function gets whatever it is given)."""
    common = object_field(raw, "params", where)
    python = {**common, **object_field(raw, "python", where)}
    check_settings(op, python, f"{where}.python")
    return Step(
        name=name,
        op=op.name,
        python=python,
        js={**common, **object_field(raw, "js", where)},
        tolerance=parse_tolerance(raw.get("tolerance", {}), f"{where}.tolerance"),
        custom=op,
    )


def _resolve_model(per_side: dict[str, dict[str, Any]], base: Path, where: str) -> None:
    """Model paths are relative to the pipeline file; `format` defaults to layers for a Keras
    file and graph for a SavedModel directory (which has no Keras layers to match)."""
    for settings in per_side.values():
        path = (base / settings["path"]).resolve()
        if not path.exists():
            raise PipelineSpecError(f"{where}.params.path: no model at {path}")
        if path.is_dir() and (path / "model.json").is_file():  # a TF.js model's folder
            path = path / "model.json"
        settings["path"] = str(path)
        if path.suffix == ".json":  # a TF.js model alone: its JSON says its format
            try:
                found = tfjs_format(path)
            except ModelFileError as e:
                raise PipelineSpecError(f"{where}.params.path: {e}") from None
            if settings["format"] not in (None, found):
                raise PipelineSpecError(f"{where}.params.format: {path} is a TF.js {found} model")
            settings["format"] = found
        fmt = settings["format"] or ("graph" if path.is_dir() else "layers")
        if fmt == "layers" and path.is_dir():
            raise PipelineSpecError(
                f"{where}.params.format: {path} is a SavedModel directory, which converts to "
                "a GraphModel only: use format graph"
            )
        settings["format"] = fmt
        own = settings.get("tfjs_model")
        if own is not None:
            model_json = (base / own).resolve()
            model_json = model_json if model_json.suffix == ".json" else model_json / "model.json"
            if not model_json.is_file():
                raise PipelineSpecError(f"{where}.js.tfjs_model: no model.json in {own}")
            settings["tfjs_model"] = str(model_json)
    if per_side["python"]["format"] != per_side["js"]["format"]:
        raise PipelineSpecError(f"{where}.params.format: both sides run the same format")


def parse_tolerance(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PipelineSpecError(f"{where}: must be an object")
    backends = raw.get("backends", {})
    if not isinstance(backends, dict):
        raise PipelineSpecError(f"{where}.backends: must be an object of variant -> settings")
    try:
        for variant, settings in backends.items():
            parse_variant(variant)
            if not isinstance(settings, dict):
                raise PipelineSpecError(f"{where}.backends.{variant}: must be an object")
            check_fields(settings, f"{where}.backends.{variant}")
        check_fields({k: v for k, v in raw.items() if k != "backends"}, where)
    except ValueError as e:  # ToleranceError, or an unknown backend variant
        raise PipelineSpecError(str(e) if where in str(e) else f"{where}: {e}") from None
    return raw


def object_field(raw: dict, key: str, where: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise PipelineSpecError(f"{where}.{key}: must be an object")
    return value


def only_keys(obj: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise PipelineSpecError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
