"""A tiny schema for op settings, so a bad pipeline spec fails with the path of the bad value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class PipelineSpecError(ValueError):
    """A pipeline spec that cannot run; the message names the offending path."""


@dataclass(frozen=True)
class Param:
    check: Callable[[Any], str | None]  # returns a complaint, or None when the value is fine
    default: Any = None
    required: bool = False


def number(v: Any) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool)
    return None if ok else "must be a number"


def positive_number(v: Any) -> str | None:
    return number(v) or (None if v > 0 else "must be > 0")


def text(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "must be a non-empty string"


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def optional(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    return lambda v: None if v is None else check(v)


def integer(v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) else "must be an integer"


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if v in choices:
            return None
        return f"{v!r} is not one of {', '.join(repr(c) for c in choices)}"

    return check


def int_list(length: int | None = None, minimum: int = 0) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if not isinstance(v, list) or any(integer(d) for d in v):
            return "must be a list of integers"
        if length is not None and len(v) != length:
            return f"must have {length} entries, got {len(v)}"
        if any(d < minimum for d in v):
            return f"entries must be >= {minimum}"
        return None

    return check


def validate(schema: Mapping[str, Param], given: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check `given` against `schema`, fill defaults. `$name` values are case parameters,
    resolved later, so they are accepted here as they are."""
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise PipelineSpecError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(schema)) or 'none'}"
        )
    out: dict[str, Any] = {}
    for name, p in schema.items():
        if name not in given:
            if p.required:
                raise PipelineSpecError(f"{where}.{name}: required")
            out[name] = p.default
            continue
        value = given[name]
        if not is_case_ref(value):
            complaint = p.check(value)
            if complaint:
                raise PipelineSpecError(f"{where}.{name}: {complaint}")
        out[name] = value
    return out


def is_case_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$")


def resolve(params: Mapping[str, Any], case_params: Mapping[str, Any], where: str) -> dict:
    """Replace `$name` values with the case's parameter `name` (e.g. DICOM-derived mean/std)."""
    out = {}
    for k, v in params.items():
        if is_case_ref(v):
            key = v[1:]
            if key not in case_params:
                raise PipelineSpecError(
                    f"{where}.{k}: {v} names a case parameter this case does not have "
                    f"(it has: {', '.join(sorted(case_params)) or 'none'}); a case's "
                    "parameters come from its entry in the case list (a DICOM case's mean and "
                    'std from its "stats" table, e.g. "stats": "seed") or from a Case built '
                    "with params"
                )
            v = case_params[key]
        out[k] = v
    return out
