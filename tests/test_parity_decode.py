"""Decoding the DICOM file in the page (dicom-parser and the codecs web/page/codecs.json names)
against pydicom (and the plugins the same table names), stage `decode`."""

import re
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from harness.orchestrate.suite import SuiteError, bundled_pipeline, load_suite, run_suite
from harness.specs import cases, spec

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
    assert stage.dtype == "int32" and stage.chained.max_abs == 0  # exactly the same values
    assert stage.decoding["transfer_syntax"] == syntax
    assert stage.decoding["python"].startswith("pydicom 3.")
    assert stage.decoding["js"] == "dicom-parser 1.8.21"


CHARLS = "dicom-parser 1.8.21 + @cornerstonejs/codec-charls 1.2.7"
OPENJPEG = "dicom-parser 1.8.21 + @cornerstonejs/codec-openjpeg 1.3.6"
OUR_RLE = "dicom-parser 1.8.21 + tfjs-parity's own RLE Lossless decoder (web/page/codecs.js)"
LIBJPEG = "pydicom 3.0.2 + pylibjpeg-libjpeg 2.5.0"
OPENJPEG_PY = "pydicom 3.0.2 + pylibjpeg-openjpeg 2.6.0"


@pytest.mark.parametrize(
    ("name", "syntax", "python", "js"),
    [
        ("MR_small_RLE.dcm", "1.2.840.10008.1.2.5", "pydicom 3.0.2", OUR_RLE),
        ("rtdose_rle_1frame.dcm", "1.2.840.10008.1.2.5", "pydicom 3.0.2", OUR_RLE),  # 32 bit
        ("MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80", LIBJPEG, CHARLS),
        ("JPEGLSNearLossless_08.dcm", "1.2.840.10008.1.2.4.81", LIBJPEG, CHARLS),
        ("JPEGLSNearLossless_16.dcm", "1.2.840.10008.1.2.4.81", LIBJPEG, CHARLS),
        ("MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.90", OPENJPEG_PY, OPENJPEG),
        ("J2K_pixelrep_mismatch.dcm", "1.2.840.10008.1.2.4.90", OPENJPEG_PY, OPENJPEG),
        ("JPEG2000.dcm", "1.2.840.10008.1.2.4.91", OPENJPEG_PY, OPENJPEG),
        ("693_J2KI.dcm", "1.2.840.10008.1.2.4.91", OPENJPEG_PY, OPENJPEG),
    ],
)
def test_parity_page_decodes_compressed_files_exactly_as_pydicom_does(
    parity_run, assert_parity, decode, name, syntax, python, js
):
    run = parity_run(decode, cases.from_file(pydicom_file(name)))
    assert_parity(run)
    stage = next(s for s in run.stages if s.name == "decode")
    assert stage.chained.max_abs == 0
    assert stage.decoding["transfer_syntax"].startswith(f"{syntax} (")
    assert (stage.decoding["python"], stage.decoding["js"]) == (python, js)


def test_parity_jpeg_lossless_sv1_decodes_exactly(parity_run, assert_parity, decode, fixtures_dir):
    run = parity_run(
        decode, cases.from_file(fixtures_dir / "dicom" / "synthetic_12bit_jpeg_lossless.dcm")
    )
    assert_parity(run)
    stage = next(s for s in run.stages if s.name == "decode")
    assert stage.chained.max_abs == 0
    assert stage.decoding["js"] == "dicom-parser 1.8.21 + jpeg-lossless-decoder-js 2.1.2"


@pytest.mark.parametrize(
    "name", ["synthetic_3frames_native", "synthetic_3frames_rle", "synthetic_3frames_jpeg2000"]
)
@pytest.mark.parametrize("frame", [0, 1, 2])
def test_parity_the_chosen_frame_is_decoded(parity_harness, fixtures_dir, write_json, name, frame):
    """Native frames, RLE frames in one fragment each without an offset table, JPEG 2000 frames
    found through the Basic Offset Table; the frames differ, so a wrong one is caught."""
    pipeline = bundled_pipeline(
        write_json(
            "frame.json", {"name": "frame", "steps": [{"op": "decode", "params": {"frame": frame}}]}
        )
    )
    run = parity_harness.run(
        pipeline, cases.from_file(fixtures_dir / "dicom" / f"{name}.dcm"), "chromium", "wasm"
    )
    stage = next(s for s in run.stages if s.name == "decode")
    assert run.passed and stage.chained.max_abs == 0


def test_parity_a_frame_beyond_the_file_is_named_on_both_sides(
    parity_harness, fixtures_dir, write_json
):
    pipeline = bundled_pipeline(
        write_json(
            "frame.json", {"name": "frame", "steps": [{"op": "decode", "params": {"frame": 3}}]}
        )
    )
    case = cases.from_file(fixtures_dir / "dicom" / "synthetic_3frames_rle.dcm")
    run = parity_harness.run(pipeline, case, "chromium", "wasm")
    assert run.status == "error"
    assert "frame 3 asked for, the file has 3" in run.reason
    assert run.reason.count("frame 3 asked for") == 2  # Python and the page


def test_parity_lossy_jpeg_differs_by_a_grey_level_and_the_hint_names_the_decoder(
    parity_harness, decode, fixtures_dir, write_json
):
    """pylibjpeg's libjpeg and the page's libjpeg-turbo round the inverse DCT differently; the
    harness says so instead of passing it, and pillow (libjpeg-turbo) reproduces the page."""
    case = cases.from_file(fixtures_dir / "dicom" / "synthetic_8bit_jpeg_baseline.dcm")
    run = parity_harness.run(decode, case, "chromium", "wasm")
    stage = next(s for s in run.stages if s.name == "decode")
    assert (run.passed, run.first_divergence) == (False, "decode")
    assert stage.chained.max_abs == 1 and 0 < stage.chained.mismatch_fraction < 0.1
    assert stage.decoding["python"] == LIBJPEG
    (hint,) = stage.hints
    assert hint["reproduces"] and hint["python_settings"] == {"plugin": "pillow"}
    assert "inverse DCTs differ by a grey level" in hint["text"]

    pillow = write_json(
        "pillow.json",
        {"name": "pillow", "steps": [{"op": "decode", "python": {"plugin": "pillow"}}]},
    )
    run = parity_harness.run(bundled_pipeline(pillow), case, "chromium", "wasm")
    stage = next(s for s in run.stages if s.name == "decode")
    assert run.passed and stage.chained.max_abs == 0
    assert stage.decoding["python"] == "pydicom 3.0.2 + pillow 13.0.0"


@pytest.mark.parametrize(
    ("name", "page_reason"),
    [
        ("JPGExtended.dcm", "with 12-bit samples: the page's JPEG codec"),
        ("SC_rgb_rle.dcm", "3 samples per pixel"),
    ],
)
def test_parity_what_the_page_cannot_decode_is_refused_by_name(
    parity_harness, decode, name, page_reason
):
    run = parity_harness.run(decode, cases.from_file(pydicom_file(name)), "chromium", "wasm")
    assert run.status == "error" and page_reason in run.reason


def test_parity_an_unlisted_transfer_syntax_is_refused_by_name(parity_harness, decode, tmp_path):
    ds = pydicom.dcmread(pydicom_file("MR_small_jp2klossless.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.201"  # HTJ2K: no codec in codecs.json
    ds.save_as(tmp_path / "htj2k.dcm")
    run = parity_harness.run(decode, cases.from_file(tmp_path / "htj2k.dcm"), "chromium", "wasm")
    assert run.status == "error"
    assert "transfer syntax 1.2.840.10008.1.2.4.201 is not one the page decodes" in run.reason


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
    assert stage.own_error_class == "semantic" and stage.chained.max_abs >= 4096
    low, high = python_range
    assert low <= stage.chained.worst_reference <= high


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
    assert run.passed and stage.chained.max_abs == 0


# What the bundled dicom-files suite must give on every file (wasm): the table is the finding.
DICOM_FILES_OUTCOMES = {
    "passes exactly": [
        *("MR_small", "MR_small_implicit", "MR_small_bigendian", "MR_small_expb"),
        *("MR_small_padded", "MR_small_RLE", "MR_small_jpeg_ls_lossless"),
        *("MR_small_jp2klossless", "CT_small", "image_dfl", "693_J2KI"),
        *("J2K_pixelrep_mismatch", "JPEG2000", "JPEGLSNearLossless_08"),
        *("JPEGLSNearLossless_16", "rtdose", "rtdose_expb", "rtdose_rle", "examples_overlay"),
        *("synthetic_12bit_mono1", "synthetic_12bit_mono2", "synthetic_14bit_mono1"),
        *("synthetic_12bit_signed", "synthetic_12bit_high_bits", "synthetic_12bit_jpeg_lossless"),
        *("synthetic_3frames_native", "synthetic_3frames_rle", "synthetic_3frames_jpeg2000"),
    ],
    "diverges at decode": ["synthetic_8bit_jpeg_baseline"],  # libjpeg vs libjpeg-turbo IDCT
    "page refuses": ["JPGExtended"],  # 12-bit JPEG: no codec in the page
    "both refuse": ["JPEG-lossy", "JPEG2000-embedded-sequence-delimiter", "MR_truncated"],
}


def test_parity_the_dicom_files_suite_gives_the_known_outcome_for_every_file(
    parity_harness, fixtures_dir
):
    suite = load_suite(fixtures_dir / "suites" / "dicom-files.json")
    report = run_suite(parity_harness, suite, ["wasm"], ["chromium"])
    runs = {Path(c.case.removeprefix("pydicom:")).stem: c.runs[0] for c in report.cases}
    assert sorted(runs) == sorted(n for names in DICOM_FILES_OUTCOMES.values() for n in names)
    for name in DICOM_FILES_OUTCOMES["passes exactly"]:
        stage = next(s for s in runs[name].stages if s.name == "decode")
        assert runs[name].passed and stage.chained.max_abs == 0, name
    for name in DICOM_FILES_OUTCOMES["diverges at decode"]:
        assert (runs[name].status, runs[name].first_divergence) == ("ok", "decode")
    for name in DICOM_FILES_OUTCOMES["page refuses"]:
        assert runs[name].status == "error" and "Python decode failed" not in runs[name].reason
    for name in DICOM_FILES_OUTCOMES["both refuse"]:
        reason = runs[name].reason
        assert "Python decode failed" in reason and "JS exception" in reason, name


def test_a_pydicom_test_file_pydicom_does_not_ship_is_named(write_json):
    suite = write_json("s.json", {"pipelines": [], "cases": [{"file": "pydicom:MR_huge_J2KI.dcm"}]})
    with pytest.raises(SuiteError, match=re.escape("ships no test file 'MR_huge_J2KI.dcm'")):
        load_suite(suite)
