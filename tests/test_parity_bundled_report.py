"""The bundled suite's report keeps its content (tests/golden_report.py says what content is).

Re-recording the golden needs `--regold`, and a run that re-records fails, so a changed golden
is always a reviewed commit of its own (the rule of pytest-regressions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.results import Report
from tests import golden_report

REPO = Path(__file__).parent.parent


@pytest.mark.parity
def test_parity_the_bundled_report_keeps_its_content(tmp_path: Path, request) -> None:
    args = [str(REPO / "bin" / "tfjs-parity"), "run", "--out", str(tmp_path)]
    for b in golden_report.BACKENDS:
        args += ["--backend", b]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    # it meets report.json's schema and reads back into the same report (Report.from_dict
    # checks the schema first)
    assert Report.from_dict(report).to_dict() == report
    if request.config.getoption("--regold"):
        golden_report.save(report)
        pytest.fail(f"re-recorded {golden_report.GOLDEN}; run again without --regold")
    found = golden_report.differences(golden_report.load(), golden_report.content(report), "report")
    kept = tmp_path / "report.json"
    print(f"this run's report: {kept}", file=sys.stderr)
    assert not found, f"{len(found)} differences from the golden:\n" + "\n".join(found[:40])


def test_golden_content_tells_a_changed_verdict_from_float_noise() -> None:
    golden = {
        "runs": [
            {
                "backend": "cpu",
                "verdict": "pass",
                "max_abs": 1.0e-6,
                "message": "max abs 1.2e-06 at [0, 3]",
                "shape": [1, 224],
            }
        ]
    }
    noisy = json.loads(json.dumps(golden))
    noisy["runs"][0].update(max_abs=1.0000001e-6, message="max abs 1.2000001e-06 at [0, 3]")
    assert golden_report.differences(golden, noisy) == []
    for key, value in [
        ("verdict", "fail"),
        ("max_abs", 2e-6),
        ("shape", [1, 225]),
        ("message", "max abs 1.2e-06 at [0, 4]"),
        ("message", "max abs 1.2e-06 at [0, 224]"),
        ("message", "max rel 1.2e-06 at [0, 3]"),
    ]:
        changed = json.loads(json.dumps(golden))
        changed["runs"][0][key] = value
        assert golden_report.differences(golden, changed), (key, value)
    assert golden_report.differences({"m": "at [0, 224]"}, {"m": "at [0, 225]"})
    assert golden_report.differences({"shape": [1, 7, 7, 1280]}, {"shape": [1, 7, 7, 1290]})
    assert golden_report.differences({"total": 50176}, {"total": 50177})
    assert not golden_report.differences({"mismatched": 49935}, {"mismatched": 49940})
