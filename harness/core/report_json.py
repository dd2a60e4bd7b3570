"""How report.json holds what plain JSON cannot: NaN and Inf written as the strings "nan", "inf"
and "-inf" and read back as floats, integers read as floats where a float is due; and the
validator of its JSON Schema (report.schema.json)."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("report.schema.json")  # the JSON Schema of report.json


def read_float(value: Any) -> Any:
    """JSON's stand-ins for NaN/Inf (read_nonfinite), and integers where a float is due (json
    writes 0.0 as 0.0 but other writers as 0), read as floats."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return read_nonfinite(value)


@cache
def validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def read_nonfinite(value: Any) -> Any:
    """`json_safe` undone inside the free-form parts of a result (hints, budgets, classifier
    outputs): every "nan", "inf" or "-inf" read as the float it stands for."""
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: read_nonfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [read_nonfinite(v) for v in value]
    return value


def json_safe(value: Any) -> Any:
    """NaN/Inf are not JSON: write them as the strings "nan", "inf", "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
