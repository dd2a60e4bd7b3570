"""DICOM reading and the motivating normalisation table, including hostile files."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from harness import dicom
from harness.dicom.extension import from_dicom
from harness.specs import cases


def test_real_file_reads_with_its_metadata(fixtures_dir):
    case = from_dicom(fixtures_dir / "dicom" / "examples_overlay.dcm", "seed")
    assert case.input.shape == (300, 484, 1)
    assert case.meta["bits_stored"] == 12 and case.meta["photometric"] == "MONOCHROME2"
    assert case.params == {"mean": 978.312, "std": 1092.2426342420442}


@pytest.mark.parametrize(
    ("name", "bits", "photometric", "mean", "std"),
    [
        ("synthetic_12bit_mono1", 12, "MONOCHROME1", -3384.9893000000002, 1190.0708513300835),
        ("synthetic_14bit_mono1", 14, "MONOCHROME1", -9798.6993999999995, 7104.607118190255),
        ("synthetic_12bit_mono2", 12, "MONOCHROME2", 978.31200000000001, 1092.2426342420442),
    ],
)
def test_synthetic_files_select_their_branch(fixtures_dir, name, bits, photometric, mean, std):
    case = from_dicom(fixtures_dir / "dicom" / f"{name}.dcm", "seed")
    assert case.meta["photometric"] == photometric and case.meta["bits_stored"] == bits
    assert case.params == {"mean": mean, "std": std}
    assert case.input.max() < 2**bits


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("synthetic_14bit_mono2", "BitsStored=14 with PhotometricInterpretation=MONOCHROME2"),
        ("synthetic_10bit_mono1", "BitsStored=10 with PhotometricInterpretation=MONOCHROME1"),
    ],
)
def test_synthetic_files_without_a_branch_are_refused_naming_both(fixtures_dir, name, said):
    with pytest.raises(dicom.DicomError, match=f"{name}.dcm: no normalisation for {said}"):
        from_dicom(fixtures_dir / "dicom" / f"{name}.dcm", "seed")


def test_synthetic_files_are_reproduced_by_their_script(fixtures_dir, tmp_path, monkeypatch):
    import importlib.util

    script = fixtures_dir / "dicom" / "make_synthetic.py"
    spec = importlib.util.spec_from_file_location("make_synthetic", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    made = module.write_all()
    assert len(made) == len(list((fixtures_dir / "dicom").glob("synthetic_*.dcm")))
    for path in made:
        assert path.read_bytes() == (fixtures_dir / "dicom" / path.name).read_bytes(), path.name


def test_unsupported_metadata_names_both_values(tmp_path):
    path = Path(get_testdata_file("CT_small.dcm"))  # 16 bits, MONOCHROME2
    with pytest.raises(dicom.DicomError) as e:
        from_dicom(path, "seed")
    assert "BitsStored=16" in str(e.value) and "PhotometricInterpretation=MONOCHROME2" in str(
        e.value
    )


def test_corrupt_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "scan.dcm"
    bad.write_bytes(b"this is not a DICOM file at all" * 10)
    with pytest.raises(dicom.DicomError, match=re.escape("scan.dcm: not a readable DICOM file")):
        dicom.read(bad)


def test_truncated_pixel_data_is_a_clear_error(tmp_path):
    path = tmp_path / "truncated.dcm"
    shutil.copy(get_testdata_file("MR_truncated.dcm"), path)
    with pytest.raises(
        dicom.DicomError, match=re.escape("truncated.dcm: pixel data cannot be decoded")
    ):
        dicom.read(path)


def test_colour_images_are_refused(tmp_path):
    with pytest.raises(dicom.DicomError, match="3 samples per pixel; only greyscale"):
        dicom.read(Path(get_testdata_file("SC_rgb_small_odd.dcm")))


def test_decode_picks_a_frame_and_read_wants_one():
    path = Path(get_testdata_file("rtdose.dcm"))  # 15 frames
    frames = pydicom.dcmread(path).pixel_array
    assert np.array_equal(dicom.decode(path.read_bytes(), frame=2), frames[2])
    with pytest.raises(dicom.DicomError, match="frame 15 asked for, the file has 15"):
        dicom.decode(path.read_bytes(), frame=15)
    with pytest.raises(
        dicom.DicomError, match=re.escape("rtdose.dcm: 15 frames; only single-frame")
    ):
        dicom.read(path)


def test_missing_attributes_are_named(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    del ds.BitsStored
    path = tmp_path / "nobits.dcm"
    ds.save_as(path)
    with pytest.raises(dicom.DicomError, match=re.escape("nobits.dcm: has no BitsStored")):
        dicom.read(path)


def test_a_case_list_names_its_own_statistics_table_by_path(fixtures_dir, tmp_path):
    """A table is data: the bundled "seed" (fixtures/stats/seed.json, the motivating code's),
    or a .json table of the user's, relative to the listing file; no table is the default (no
    mean/std: one user's table is nobody else's normalisation)."""
    (tmp_path / "tables").mkdir()
    own = {"entries": [{"bits_stored": 12, "photometric": "MONOCHROME2", "mean": 1.5, "std": 2}]}
    (tmp_path / "tables" / "mine.json").write_text(json.dumps(own))
    scan = str(fixtures_dir / "dicom" / "examples_overlay.dcm")
    listed = [
        {"dicom": scan, "stats": "tables/mine.json"},
        {"dicom": scan, "id": "b", "stats": "seed"},
        {"dicom": scan, "id": "c"},
    ]
    mine, seed, none = cases.parse_case_list(listed, tmp_path, "suite.cases")
    assert mine.load().params == {"mean": 1.5, "std": 2.0}
    assert seed.load().params == {"mean": 978.312, "std": 1092.2426342420442}
    assert none.load().params == {}


@pytest.mark.parametrize(
    ("table", "content", "said"),
    [
        ("nope", None, "unknown statistics table 'nope'; known: seed, or the path of a .json"),
        ("bad.json", {"entries": [{"bits_stored": 12}]}, "not a list of entries with"),
        ("bad.json", "[", "not a list of entries with"),
    ],
)
def test_a_statistics_table_that_cannot_be_read_says_which_and_why(
    fixtures_dir, tmp_path, table, content, said
):
    if content is not None:
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / table).write_text(text)
    scan = fixtures_dir / "dicom" / "examples_overlay.dcm"
    (source,) = cases.parse_case_list([{"dicom": str(scan), "stats": table}], tmp_path, "s")
    with pytest.raises(dicom.DicomError, match=re.escape(said)):
        source.load()
