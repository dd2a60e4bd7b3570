"""docs/known-divergences.md, generated from the catalogue: `python -m harness.diagnose.known >
docs/known-divergences.md`."""

from __future__ import annotations

from harness.diagnose.known.catalogue import CATALOGUE


def catalogue_markdown() -> str:
    """docs/known-divergences.md: the catalogue, one section per entry, from `CATALOGUE`."""
    lines = [
        "# Known divergences",
        "",
        "Generated from `harness/diagnose/known/` by `python -m harness.diagnose.known`; do "
        'not edit by hand. An entry is reported (`hints[]` with `source: "known '
        "divergence\"`) only when its evidence holds on the stage's own arrays; when none "
        'does, the harness reads the two arrays for a simple relation (`source: "symptom"`), '
        'and when nothing holds it says so (`source: "none"`).',
        "",
    ]
    for e in CATALOGUE:
        ops = ", ".join(sorted(e.ops)) or "any (the evidence decides)"
        backends = ", ".join(sorted(e.backends)) or "any"
        lines += [
            f"## {e.title}",
            "",
            f"- id: `{e.id}`",
            f"- stages: {', '.join(sorted(e.kinds))}; ops: {ops}; backends: {backends}",
            f"- evidence: {e.checks}",
            *(
                []
                if e.proven_by_arrays
                else [
                    "- in your own code (taps, custom ops), where the arrays cannot show which "
                    f'call made them: told as "if this code calls {" or ".join(sorted(e.ops))} '
                    'here" (`conditional: true`)'
                ]
            ),
            f"- why: {e.why}",
            f"- fix in Python: {e.fix_python}",
            f"- fix in TF.js: {e.fix_js}",
            f"- source: {e.source}",
            "",
        ]
    return "\n".join(lines)
