"""The pytest API as another repository uses it: a user's test file with parity_check, the
backend markers and the options, run by pytest itself (pytester)."""

from pathlib import Path

import pytest

from harness.runtimes import shims

pytestmark = pytest.mark.parity

REPO = Path(__file__).parent.parent
EXAMPLE = REPO / "examples" / "dicom-preprocessing" / "parity"
SCAN = REPO / "fixtures" / "dicom" / "examples_overlay.dcm"

USER_TESTS = f"""
import dataclasses
from pathlib import Path

import pytest

from harness.pipeline import spec

FIXED = Path({str(EXAMPLE / "fixed.json")!r})
SEED = Path({str(EXAMPLE / "seed.json")!r})
SCAN = Path({str(SCAN)!r})


@pytest.mark.parity
@pytest.mark.parity_backends("wasm")
def test_only_on_wasm(parity_check, parity_backend):
    assert parity_backend == "wasm"
    parity_check(FIXED, cases=[SCAN])


@pytest.mark.parity
@pytest.mark.parity_skip_backends("cpu", reason="not on cpu here")
def test_not_on_cpu(parity_check):
    parity_check(FIXED, cases=[SCAN])


@pytest.mark.parity
def test_seed_without_its_expectation(parity_check):
    parity_check(dataclasses.replace(spec.load(SEED), expect={{}}), cases=[SCAN])
"""


def test_parity_a_users_test_file_runs_per_backend_with_markers(pytester, tmp_path):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(
        "--parity-backend", "wasm", "--parity-backend", "cpu", "--parity-out", str(tmp_path), "-rs"
    )
    result.assert_outcomes(passed=2, skipped=1, failed=2)
    result.stdout.fnmatch_lines(["*1 of 1 case(s) of dicom-preprocessing-seed do not pass*"])
    result.stdout.fnmatch_lines(["*first divergence: resize*"])
    result.stdout.fnmatch_lines(["*SKIPPED*not on cpu here*"])
    assert (tmp_path / "report.json").is_file()  # --parity-out: the session's report


def test_parity_the_import_shims_match_the_installed_libraries(parity_harness):
    """web/page/shims/ export every name of the page's TF.js and dicom-parser globals; after an
    upgrade, `python -m harness.runtimes.shims` regenerates them."""
    page = parity_harness.backend_page("chromium", "cpu").page
    for path, text in shims.generated(page).items():
        assert path.read_text() == text, f"{path.name} is stale: python -m harness.runtimes.shims"


@pytest.mark.parity_backends("wasm")
def test_parity_check_a_case_that_cannot_load_is_that_cases_error(
    parity_check, tmp_path, fixtures_dir
):
    """A corrupt file among a pipeline's cases fails the check naming that case; the other
    cases still run (they are in the check's runs)."""
    import json

    corrupt = tmp_path / "corrupt.dcm"
    corrupt.write_bytes(b"DICM" + b"\0" * 64)
    seed_matched = json.loads((fixtures_dir / "pipelines" / "seed-matched.json").read_text())
    pipeline = tmp_path / "p.json"
    pipeline.write_text(
        json.dumps({**seed_matched, "cases": [{"dicom": str(corrupt)}, {"dicom": str(SCAN)}]})
    )
    with pytest.raises(pytest.fail.Exception) as failed:
        parity_check(pipeline)
    text = str(failed.value)
    assert "1 of 2 case(s)" in text and "corrupt.dcm: could not be loaded" in text
    assert "examples_overlay.dcm" not in text  # the good case ran, and passed
