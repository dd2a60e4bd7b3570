"""Decoding the DICOM file in the page (dicom-parser) against pydicom, stage `decode`."""

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from harness import cases
from harness.pipeline import spec
from harness.suite import bundled_pipeline

pytestmark = pytest.mark.parity


def pydicom_file(name: str) -> Path:
    return Path(get_testdata_file(name))


@pytest.fixture
def decode(fixtures_dir):
    return bundled_pipeline(fixtures_dir / "pipelines" / "decode.json")


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("MR_small.dcm", "1.2.840.10008.1.2.1 (Explicit VR Little Endian)"),  # signed 16 bit
        ("MR_small_implicit.dcm", "1.2.840.10008.1.2 (Implicit VR Little Endian)"),
        ("MR_small_bigendian.dcm", "1.2.840.10008.1.2.2 (Explicit VR Big Endian)"),
        ("CT_small.dcm", "1.2.840.10008.1.2.1 (Explicit VR Little Endian)"),
        ("image_dfl.dcm", "1.2.840.10008.1.2.1.99 (Deflated Explicit VR Little Endian)"),
    ],
)
def test_parity_page_decodes_uncompressed_files_as_pydicom_does(
    parity_run, assert_parity, decode, name, syntax
):
    run = parity_run(decode, cases.from_file(pydicom_file(name)))
    assert_parity(run)
    stage = next(s for s in run.stages if s.name == "decode")
    assert stage.dtype == "int32" and stage.chained["max_abs"] == 0  # exactly the same values
    assert stage.decoding["transfer_syntax"] == syntax
    assert stage.decoding["python"].startswith("pydicom 3.")
    assert stage.decoding["js"] == "dicom-parser 1.8.21"


def test_parity_a_compressed_file_the_page_cannot_decode_is_named(parity_harness, decode):
    run = parity_harness.run(
        decode, cases.from_file(pydicom_file("MR_small_RLE.dcm")), "chromium", "wasm"
    )
    assert run.status == "error"
    assert "transfer syntax 1.2.840.10008.1.2.5 is compressed: the page does not" in run.reason


def test_parity_truncated_pixel_data_fails_on_both_sides_with_reasons(parity_harness, decode):
    run = parity_harness.run(
        decode, cases.from_file(pydicom_file("MR_truncated.dcm")), "chromium", "cpu"
    )
    assert run.status == "error"
    assert "Python decode failed: the DICOM file: pixel data cannot be decoded" in run.reason
    assert "JS exception: dicom-parser cannot parse the file: " in run.reason


def test_decode_must_come_first():
    with pytest.raises(spec.PipelineSpecError, match="must be the first step"):
        spec.parse(
            {"name": "p", "steps": [{"op": "cast", "params": {"dtype": "int32"}}, {"op": "decode"}]}
        )


@pytest.mark.parametrize("name", ["synthetic_12bit_signed", "synthetic_12bit_high_bits"])
def test_parity_bits_stored_is_applied_like_pydicom(
    parity_run, assert_parity, decode, fixtures_dir, name
):
    run = parity_run(decode, cases.from_file(fixtures_dir / "dicom" / f"{name}.dcm"))
    assert_parity(run)


@pytest.mark.parametrize(
    ("name", "python_range"),
    [("synthetic_12bit_signed", (-2048, 2047)), ("synthetic_12bit_high_bits", (0, 4095))],
)
def test_parity_a_decoder_ignoring_bits_stored_is_caught_at_decode(
    parity_harness, fixtures_dir, write_json, name, python_range
):
    naive = write_json(
        "naive.json",
        {"name": "naive", "steps": [{"op": "decode", "js": {"apply_bits_stored": False}}]},
    )
    case = cases.from_file(fixtures_dir / "dicom" / f"{name}.dcm")
    run = parity_harness.run(bundled_pipeline(naive), case, "chromium", "wasm")
    assert (run.status, run.first_divergence) == ("ok", "decode")
    stage = next(s for s in run.stages if s.name == "decode")
    assert stage.own_error_class == "semantic" and stage.chained["max_abs"] >= 4096
    low, high = python_range
    assert low <= stage.chained["worst_reference"] <= high


def modality_pipeline(write_json):
    spec = {"name": "modality", "steps": [{"op": "decode", "params": {"values": "modality"}}]}
    return bundled_pipeline(write_json("modality.json", spec))


def test_parity_modality_values_match_pydicoms_rescale(
    parity_run, assert_parity, write_json, tmp_path
):
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    ds.RescaleSlope, ds.RescaleIntercept = "0.37", "-1000.5"  # not exact in float32
    ds.save_as(tmp_path / "rescaled.dcm", enforce_file_format=True)
    run = parity_run(modality_pipeline(write_json), cases.from_file(tmp_path / "rescaled.dcm"))
    assert_parity(run)
    stage = next(s for s in run.stages if s.name == "decode")
    assert (stage.dtype, stage.reference_dtype) == ("float32", "float64")
    assert stage.own_error_class in ("none", "float32")


def test_parity_ct_hounsfield_units_are_exact(parity_harness, write_json):
    case = cases.from_file(pydicom_file("CT_small.dcm"))  # slope 1, intercept -1024
    run = parity_harness.run(modality_pipeline(write_json), case, "chromium", "wasm")
    stage = next(s for s in run.stages if s.name == "decode")
    assert run.passed and stage.chained["max_abs"] == 0
