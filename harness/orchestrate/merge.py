"""The environments and timings of sessions that ran side by side (pytest-xdist workers, each
with its own browsers) merged into one report's: each browser's probes, the reference's records,
the time spent."""

from __future__ import annotations

import copy
from typing import Any

from harness.orchestrate.environment import recorded_device
from harness.orchestrate.reference_side import recorded_line


def merge_timings(timings: list[dict[str, float]]) -> dict[str, float]:
    """Summed per phase (each already a sum over pages working in parallel); `total`, the
    longest."""
    out: dict[str, float] = {}
    for t in timings:
        for k, v in t.items():
            out[k] = max(out.get(k, 0.0), v) if k == "total" else out.get(k, 0.0) + v
    return {k: round(v, 3) for k, v in out.items()}


def merge_environments(environments: list[dict[str, Any]]) -> dict[str, Any]:
    """The first non-empty environment, with `browsers` and a recorded `reference` gathered
    from all (a worker that started no browser has an empty `browsers`)."""
    given = [e for e in environments if e]
    if not given:
        return {}
    out = copy.deepcopy(given[0])
    out["browsers"] = _browsers([e.get("browsers", {}) for e in given])
    references = [e["reference"] for e in given if "reference" in e]
    if references and all(r.get("mode") == "recorded" for r in references):
        out["reference"] = _recorded(references)
        out["reference_device"] = recorded_device(out["reference"])
    return out


def _browsers(each: list[dict[str, Any]]) -> dict[str, Any]:
    """Per browser: a version when any worker started it (else the error that kept it from
    starting), every variant probed (a working probe over a failed one), restarts summed,
    replaced pages listed."""
    out: dict[str, Any] = {}
    for browsers in each:
        for name, b in browsers.items():
            m = out.setdefault(name, {"version": None, "backends": {}})
            if b.get("version"):
                m["version"] = b["version"]
                m.pop("error", None)
            elif m["version"] is None and b.get("error"):
                m["error"] = b["error"]
            for variant, probe in b.get("backends", {}).items():
                have = m["backends"].get(variant)
                if have is None or (have.get("status") != "ok" and probe.get("status") == "ok"):
                    m["backends"][variant] = probe
            if b.get("remote"):
                m["remote"] = b["remote"]
            for key in ("restarts", "startup_seconds"):
                if key in b:
                    m[key] = round(m.get(key, 0) + b[key], 3)
            if "pages_replaced" in b:
                m["pages_replaced"] = m.get("pages_replaced", []) + b["pages_replaced"]
    return out


def _recorded(references: list[dict[str, Any]]) -> dict[str, Any]:
    """Recorded references of one store read by several workers: the records counted once per
    worker that read them, provenance entries of one machine and set-up joined."""
    out = copy.deepcopy(references[0])
    out["records_used"] = sum(r.get("records_used", 0) for r in references)
    out["rerecorded"] = [n for r in references for n in r.get("rerecorded", [])]
    joined: dict[str, dict[str, Any]] = {}
    for r in references:
        for p in r.get("provenance", []):
            key = repr(sorted((k, repr(v)) for k, v in p.items() if k not in _COUNTS))
            have = joined.get(key)
            if have is None:
                joined[key] = dict(p)
                continue
            have["records"] = have.get("records", 0) + p.get("records", 0)
            have["recorded"] = min(have["recorded"], p["recorded"])
            have["recorded_last"] = max(have["recorded_last"], p["recorded_last"])
    out["provenance"] = list(joined.values())
    page = out.get("page")
    out["line"] = recorded_line(out)
    if page is not None:
        out["line"] = f"the page {page} (budgets from Python: {out['line']})"
    return out


_COUNTS = ("records", "recorded", "recorded_last")
