"""Stages judged by their parts: a model stage by its layers (each on its own budget), a stage
that is several tensors by its parts; a model stage's layers folded under it, and how many of
its layers or nodes were compared (coverage)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.core.outputs import INPUT_STAGE
from harness.core.results import StageResult

CLASS_ORDER = ("none", "float32", "float16", "semantic")


def by_parts(result: StageResult, earlier: list[StageResult]) -> None:
    """A model stage: its own error is its layers' (each judged on its own budget); the whole
    model's isolated difference is float drift through them when every layer passes."""
    parts = [r for r in earlier if r.name.startswith(f"{result.name}/")]
    if not parts:
        return
    failing = [p.name for p in parts if (p.own_verdict or p.verdict) == "fail"]
    classes = [p.own_error_class for p in parts if p.own_error_class in CLASS_ORDER]
    result.own_verdict = "fail" if failing else "pass"
    result.own_error_class = max(classes, key=CLASS_ORDER.index) if classes else None
    result.budget = {"basis": f"judged by its {len(parts)} layers", "failing": failing}


VERDICT_ORDER = ("pass", "not_run", "fail", "error")  # the worst of its parts is a composite's


def composite(name: str, parts: Mapping[str, str], earlier: list[StageResult]) -> StageResult:
    """A stage that is several tensors (the reference's `composites`: a model's outputs, a
    case's named inputs), judged by its parts, each compared before it as a stage of its own:
    end to end by its parts' verdicts, its own error by every "<name>/..." stage (a model's
    every layer, as a one-output model is judged)."""
    got = {r.name: r for r in earlier}
    verdicts = {k: got[p].verdict if p in got else "not_run" for k, p in parts.items()}
    result = StageResult(
        name,
        None,
        None,
        None,
        None,
        max(verdicts.values(), key=VERDICT_ORDER.index),
        None,
        None,
        None,
        message=f"{len(parts)} tensors: " + ", ".join(f"{k} {v}" for k, v in verdicts.items()),
        parts={k: p.split("/", 1)[1] for k, p in parts.items()},
    )
    if name == INPUT_STAGE:
        result.own_verdict = result.verdict
        return result
    by_parts(result, earlier)
    return result


def fold_layers(
    stages: list[StageResult],
    first_divergence: str | None,
    layer_ops: Mapping[str, Mapping[str, str]],
) -> tuple[list[StageResult], str | None, str | None]:
    """Move "<model stage>/<layer>" results into that stage's `layers`, in order, each with its
    layer class; a layer found first divergent makes its model stage the first divergence."""
    folded: list[StageResult] = []
    pending: dict[str, list[StageResult]] = {}
    for stage in stages:
        owner, sep, layer = stage.name.partition("/")
        if sep:
            stage.name, stage.op = layer, layer_ops.get(owner, {}).get(layer)
            pending.setdefault(owner, []).append(stage)
            continue
        stage.layers = pending.pop(stage.name, [])
        folded.append(stage)
    for owner, layers in pending.items():  # the model stage itself was not reached
        folded.append(
            StageResult(
                owner,
                None,
                None,
                None,
                None,
                "not_run",
                None,
                None,
                None,
                message="the model's output was not produced",
                layers=layers,
            )
        )
    owner, sep, layer = (first_divergence or "").partition("/")
    return folded, owner or None, layer if sep else None


def coverage(
    stage: StageResult, parts: Mapping[str, str | None], kind: str = "layers"
) -> dict[str, Any]:
    """How much of a model stage was compared: of `parts` (every layer or node: None, or why
    the harness does not compare it), those with a verdict in `stage.layers`; the others with
    the reason (a layer one side did not produce: its message)."""
    done = {s.name: s for s in stage.layers}
    missing: dict[str, str] = {}
    for name, why in parts.items():
        result = done.get(name)
        if why is not None:
            missing[name] = why
        elif result is None:
            missing[name] = "not produced by either side"
        elif result.verdict not in ("pass", "fail"):
            missing[name] = result.message or result.verdict
    total = len(parts)
    compared = total - len(missing)
    return {
        "compared": compared,
        "total": total,
        "share": compared / total if total else 1.0,
        "kind": kind,
        "not_compared": missing,
    }
