"""Case identity: a case is its path relative to the folder the listed files share, never just
its file stem, and two cases never share an id."""

import dataclasses
import re

import pytest

from harness.orchestrate.suite import Suite, SuiteError, run_suite
from harness.specs.cases import CaseListError, parse_case_list


def files(root, *names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    return root


def ids(entries, base):
    return [c.id for c in parse_case_list(entries, base, "pipeline.cases")]


def test_same_stem_different_extension_are_two_cases(tmp_path):
    files(tmp_path, "a.png", "a.jpg")
    assert ids(["*"], tmp_path) == ["a.jpg", "a.png"]
    assert ids(["a.png", "a.jpg"], tmp_path) == ["a.png", "a.jpg"]


def test_same_name_in_different_folders_are_two_cases(tmp_path):
    files(tmp_path, "cats/001.jpg", "dogs/001.jpg", "dogs/002.jpg")
    assert ids(["*/*.jpg"], tmp_path) == ["cats/001.jpg", "dogs/001.jpg", "dogs/002.jpg"]
    assert ids(["cats/001.jpg", "dogs/*.jpg"], tmp_path) == [
        "cats/001.jpg",
        "dogs/001.jpg",
        "dogs/002.jpg",
    ]


def test_ids_relative_to_the_shared_folder_wherever_the_listing_is(tmp_path):
    files(tmp_path, "data/scans/x.dcm", "data/scans/y.dcm")
    (tmp_path / "parity").mkdir()
    assert ids(["../data/scans/*.dcm"], tmp_path / "parity") == ["x.dcm", "y.dcm"]


def test_a_file_listed_twice_is_refused_by_name(tmp_path):
    files(tmp_path, "cats/001.jpg")
    with pytest.raises(CaseListError) as e:
        ids(["cats/001.jpg", "cats/*.jpg"], tmp_path)
    assert "pipeline.cases[1]: case id '001.jpg'" in str(e.value)
    assert "also pipeline.cases[0]" in str(e.value)


def test_an_own_id_that_clashes_is_refused(tmp_path):
    files(tmp_path, "a.dcm", "b.dcm")
    assert ids([{"file": "a.dcm", "id": "first"}, "b.dcm"], tmp_path) == ["first", "b.dcm"]
    with pytest.raises(CaseListError, match=r"case id 'b\.dcm'"):
        ids(["b.dcm", {"file": "a.dcm", "id": "b.dcm"}], tmp_path)
    with pytest.raises(CaseListError, match=r"cases\[0\]\.id: a string, for an entry naming one"):
        ids([{"file": "*.dcm", "id": "both"}], tmp_path)


def test_a_suite_built_in_code_with_one_id_twice_is_refused(tmp_path):
    files(tmp_path, "x/a.dcm", "y/a.dcm")
    [one, two] = parse_case_list(["*/a.dcm"], tmp_path, "cases")
    twins = Suite("twins", (), (one, dataclasses.replace(two, id=one.id)))
    with pytest.raises(SuiteError, match=re.escape("repeated: ['x/a.dcm']")):
        run_suite(None, twins, ["cpu"], ["chromium"])


def test_a_symlinked_file_is_the_case_the_user_listed(tmp_path):
    files(tmp_path, "archive/2020-01.dcm")
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "latest.dcm").symlink_to(tmp_path / "archive" / "2020-01.dcm")
    [case] = parse_case_list(["scans/*.dcm"], tmp_path, "cases")
    assert case.id == "latest.dcm" and case.path == tmp_path / "scans" / "latest.dcm"


def test_an_own_id_cannot_take_another_files_id(tmp_path):
    files(tmp_path, "cats/001.dcm", "dogs/001.dcm")
    with pytest.raises(CaseListError, match=r"case id 'dogs/001\.dcm'"):
        ids([{"file": "cats/001.dcm", "id": "dogs/001.dcm"}, "dogs/001.dcm"], tmp_path)
