"""Tolerance policies: defaults from the dtype and the precision the backend really runs at,
then the pipeline's per-step settings, then command-line overrides, in that order.

Float32: torch.testing's float32 defaults (rtol 1.3e-6, about 11 float32 ULPs; atol 1e-5), not
tfjs-core's own test tolerance (absolute only: 1e-3 on float32 backends, 1e-1 on float16; its
test_util.ts), which hides real bugs of 100s of ULPs. A page whose
WebGL textures are float16 is judged by torch.testing's float16 defaults (rtol 1e-3, atol 1e-5).
Integers and booleans must match exactly.

An override is written `[STAGE][@VARIANT]:KEY=VALUE[,KEY=VALUE...]`, or just `KEY=VALUE,...` for
every stage, e.g. `atol=1e-4`, `resize:rtol=1e-3,statistic=quantile:0.99`,
`normalize@webgl:f16:atol=2e-3`. Keys: atol, rtol, ulp, statistic, mismatch_fraction.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.compare.policy import STATISTICS, Tolerance
from harness.core.variant_names import canonical

FLOAT32 = Tolerance(atol=1e-5, rtol=1.3e-6, basis="float32 (torch.testing defaults)")
FLOAT16 = Tolerance(atol=1e-5, rtol=1e-3, basis="float16 backend (torch.testing float16 defaults)")
EXACT = Tolerance(atol=0.0, rtol=0.0, basis="exact (integer or bool)")
KEYS = ("atol", "rtol", "ulp", "statistic", "mismatch_fraction")


class ToleranceError(ValueError):
    """A tolerance setting that cannot be used; the message names it."""


def default_tolerance(candidate: np.dtype, precision: str) -> Tolerance:
    if candidate.kind in "iub":
        return EXACT
    return FLOAT16 if precision == "float16" else FLOAT32


def check_fields(fields: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate policy settings (from a pipeline file or the command line)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in KEYS:
            raise ToleranceError(f"{where}: unknown tolerance key {key!r}; keys: {', '.join(KEYS)}")
        if key == "statistic":
            if not _statistic_ok(value):
                raise ToleranceError(
                    f"{where}.statistic: {value!r} is not one of {', '.join(STATISTICS)} "
                    "or quantile:Q with 0 <= Q <= 1"
                )
        elif key == "ulp":
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise ToleranceError(f"{where}.ulp: must be a non-negative integer or null")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            # `not 0 <= value` refuses NaN too: a NaN bound passes every comparison
            raise ToleranceError(f"{where}.{key}: must be a non-negative number")
        elif not math.isfinite(value):
            raise ToleranceError(f"{where}.{key}: must be a finite number (inf allows anything)")
        elif key == "mismatch_fraction" and value > 1:
            raise ToleranceError(f"{where}.mismatch_fraction: must be between 0 and 1")
        out[key] = value
    return out


def _statistic_ok(value: Any) -> bool:
    if value in STATISTICS:
        return True
    if isinstance(value, str) and value.startswith("quantile:"):
        try:
            return 0.0 <= float(value.split(":", 1)[1]) <= 1.0
        except ValueError:
            return False
    return False


@dataclass(frozen=True)
class Override:
    stage: str | None  # None: every stage
    variant: str | None  # None: every backend variant
    fields: dict[str, Any]

    def applies(self, stage: str, variant: str) -> bool:
        """For this stage on this variant (its options in any order)."""
        if self.stage not in (None, stage):
            return False
        return self.variant is None or canonical(self.variant) == canonical(variant)


def parse_override(text: str) -> Override:
    """`[STAGE][@VARIANT]:KEY=VALUE,...` or `KEY=VALUE,...`."""
    first_eq = text.find("=")
    if first_eq < 0:
        raise ToleranceError(f"tolerance {text!r}: expected KEY=VALUE (e.g. resize:atol=1e-4)")
    scope, _, settings = text[:first_eq].rpartition(":")
    settings += text[first_eq:]
    stage, _, variant = scope.partition("@")
    fields: dict[str, Any] = {}
    for item in settings.split(","):
        key, sep, raw = item.partition("=")
        if not sep:
            raise ToleranceError(f"tolerance {text!r}: {item!r} is not KEY=VALUE")
        fields[key.strip()] = _value(key.strip(), raw.strip(), text)
    return Override(stage or None, variant or None, check_fields(fields, f"tolerance {text!r}"))


def _value(key: str, raw: str, text: str) -> Any:
    if key == "statistic":
        return raw
    if key == "ulp":
        if raw in ("none", "null"):
            return None
        try:
            return int(raw)
        except ValueError:
            raise ToleranceError(f"tolerance {text!r}: ulp={raw!r} is not an integer") from None
    try:
        return float(raw)
    except ValueError:
        raise ToleranceError(f"tolerance {text!r}: {key}={raw!r} is not a number") from None


def policy(
    dtype: np.dtype,
    precision: str,
    stage: str,
    variant: str,
    step: Mapping[str, Any] | None = None,
    overrides: Sequence[Override] = (),
    reference_variant: str | None = None,
) -> Tolerance:
    """The policy for one stage on one backend variant, with where each setting came from.
    `reference_variant`: the reference page's variant when two pages are compared; its
    settings apply too, as the comparison involves it, but the candidate's own settings win
    whatever their source or order. From first to last (a later one wins): the pipeline's,
    the pipeline's for the reference, the command line's for the reference only, the
    pipeline's for the candidate, the command line's that apply to the candidate (in the
    order given). Variants match however their options are spelt."""
    base = default_tolerance(dtype, precision)
    by_variant = {canonical(k): v for k, v in (step or {}).get("backends", {}).items()}
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if step:
        layers.append(("pipeline", {k: v for k, v in step.items() if k != "backends"}))
    if reference_variant is not None:
        ref = canonical(reference_variant)
        layers.append((f"pipeline for {reference_variant}", by_variant.get(ref, {})))
        layers += [
            (f"command line for {reference_variant}", o.fields)
            for o in overrides
            if o.variant is not None and o.applies(stage, ref) and not o.applies(stage, variant)
        ]
    if step:
        layers.append((f"pipeline for {variant}", by_variant.get(canonical(variant), {})))
    layers += [("command line", o.fields) for o in overrides if o.applies(stage, variant)]
    fields: dict[str, Any] = {}
    notes = []
    for source, settings in layers:
        if settings:
            fields.update(settings)
            notes.append(f"{source}: {', '.join(settings)}")
    if not fields:
        return base
    return dataclasses.replace(base, basis="; ".join([base.basis, *notes]), explicit=True, **fields)
