"""Optional parts found through entry points (harness/specs/extensions.py): DICOM is one, and
the core works, and says what is missing, without it."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from harness.ops.catalogue import PYTHON_OPS
from harness.specs import cases, extensions, spec
from harness.specs.op_schemas import SCHEMAS
from harness.specs.params import PipelineSpecError

REPO = Path(__file__).parent.parent
SCAN = REPO / "fixtures" / "dicom" / "examples_overlay.dcm"


@pytest.fixture
def entry_points(monkeypatch):
    """Replace the installed entry points with the given (name, "module:attr") pairs."""

    def install(*points: tuple[str, str]) -> None:
        found = metadata.EntryPoints(
            metadata.EntryPoint(name, value, extensions.GROUP) for name, value in points
        )
        monkeypatch.setattr(extensions.metadata, "entry_points", lambda group: found)
        extensions.installed.cache_clear()

    yield install
    extensions.installed.cache_clear()


def test_dicom_is_an_installed_extension_that_adds_its_op_and_its_kind_of_case():
    assert [e.name for e in extensions.installed()] == ["dicom"]
    assert "decode" in SCHEMAS and "decode" in PYTHON_OPS
    assert "dicom" in extensions.case_kinds()
    assert extensions.stage_details("decode") is not None
    assert extensions.stage_details("resize") is None


def test_importing_the_core_loads_no_extension():
    code = (
        "import sys; import harness.orchestrate.orchestrator, harness.report.json_report; "
        "print(sorted(m for m in sys.modules if m.startswith('harness.dicom')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_without_the_dicom_extension_its_op_and_case_kind_are_unknown_by_name(
    entry_points, tmp_path
):
    entry_points()
    assert "decode" not in SCHEMAS and "decode" not in PYTHON_OPS and "normalize" in SCHEMAS
    with pytest.raises(PipelineSpecError, match="'decode' is not in the catalogue"):
        spec.parse({"name": "d", "steps": [{"op": "decode"}]}, tmp_path)
    with pytest.raises(cases.CaseListError, match="needs a 'file' path"):
        cases.parse_case_list([{"dicom": str(SCAN)}], tmp_path, "cases")
    with pytest.raises(cases.CaseListError, match="no kind of case reads this file"):
        cases.from_path(SCAN)
    # a file as it is still loads: a pipeline that decodes it itself takes it
    (source,) = cases.parse_case_list([str(SCAN)], tmp_path, "cases")
    assert source.load().file.size == SCAN.stat().st_size


def test_an_extension_that_cannot_load_or_clashes_is_named(entry_points):
    entry_points(("broken", "harness.no_such_module:EXTENSION"))
    with pytest.raises(extensions.ExtensionError, match=r"extension 'broken'.*cannot be loaded"):
        extensions.installed()
    entry_points(("not-one", "harness.specs.extensions:GROUP"))
    with pytest.raises(extensions.ExtensionError, match="is not an Extension"):
        extensions.installed()
    entry_points(
        ("a", "harness.dicom.extension:EXTENSION"), ("b", "harness.dicom.extension:EXTENSION")
    )
    with pytest.raises(extensions.ExtensionError, match="op 'decode' comes from two"):
        extensions.installed()


def test_a_dicom_case_has_no_statistics_table_unless_it_names_one(tmp_path):
    listed = [{"dicom": str(SCAN)}, {"dicom": str(SCAN), "id": "s", "stats": "seed"}]
    plain, seeded = cases.parse_case_list(listed, tmp_path, "cases")
    assert plain.load().params == {}
    assert set(seeded.load().params) == {"mean", "std"}
    assert cases.from_path(SCAN).params == {}  # a file given by path alone
    (tmp_path / "p.json").write_text(
        json.dumps(
            {
                "name": "n",
                "steps": [{"op": "normalize", "params": {"mean": "$mean", "std": "$std"}}],
                "cases": listed[:1],
            }
        )
    )
    pipeline = spec.load(tmp_path / "p.json")
    with pytest.raises(PipelineSpecError, match=r"\$mean names a case parameter this case"):
        pipeline.js_steps(pipeline.cases[0].load().params)


@pytest.mark.parametrize("value", [5, True, "", ["seed"]])
def test_a_stats_value_that_is_no_table_is_refused_where_it_stands(tmp_path, value):
    with pytest.raises(cases.CaseListError, match=r"cases\[0\]\.stats: .*null, a bundled"):
        cases.parse_case_list([{"dicom": str(SCAN), "stats": value}], tmp_path, "cases")


def test_a_table_path_that_is_not_there_says_so_and_any_json_suffix_is_a_path(tmp_path):
    from harness import dicom

    (source,) = cases.parse_case_list([{"dicom": str(SCAN), "stats": "t/no.json"}], tmp_path, "c")
    with pytest.raises(dicom.DicomError, match=r"statistics table .*no\.json: no such file"):
        source.load()
    table = {"entries": [{"bits_stored": 12, "photometric": "MONOCHROME2", "mean": 1, "std": 2}]}
    (tmp_path / "mine.JSON").write_text(json.dumps(table))
    (source,) = cases.parse_case_list([{"dicom": str(SCAN), "stats": "mine.JSON"}], tmp_path, "c")
    assert source.load().params == {"mean": 1.0, "std": 2.0}


def test_a_file_given_by_path_is_that_file_by_its_content_not_its_name(tmp_path):
    import shutil

    from harness.orchestrate.suite import bundled_case

    scan = tmp_path / "IM0001"  # no suffix: a DICOM file all the same
    shutil.copy(SCAN, scan)
    assert bundled_case(str(scan)).input.shape == (300, 484, 1)
    with pytest.raises(cases.CaseListError, match="no file"):
        cases.source_for(tmp_path / "missing.dcm")
    (tmp_path / "img.png").write_bytes(b"\x89PNG not dicom")
    with pytest.raises(cases.CaseListError, match="no kind of case reads this file"):
        bundled_case(str(tmp_path / "img.png"))
    assert cases.source_for(tmp_path / "img.png", as_file=True).load().file.size == 14


def test_a_broken_extension_is_a_usage_error_said_before_anything_runs(entry_points, capsys):
    from harness.cli import main

    entry_points(("broken", "harness.no_such_module:EXTENSION"))
    assert main(["run", "--backend", "cpu"]) == 2
    assert "extension 'broken' (harness.no_such_module:EXTENSION) cannot be loaded" in (
        capsys.readouterr().err
    )
