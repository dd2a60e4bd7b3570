"""Hostile DICOM files through both decoders: a clear per-case error, in bounded time, and the
browser session lives on."""

import io
import secrets
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from harness import dicom
from harness.orchestrate.suite import Suite, bundled_pipeline, run_suite
from harness.runtimes.browser import hooks_for_tests
from harness.specs import cases

pytestmark = [
    pytest.mark.parity,
    pytest.mark.filterwarnings("ignore::UserWarning"),  # pydicom warns about every odd byte
]

SECONDS_PER_FILE = 5.0  # what one file may cost a decoder before it counts as wedged


def pydicom_file(name: str) -> bytes:
    return Path(get_testdata_file(name)).read_bytes()


def with_pixels(rows: int, cols: int, pixel_bytes: bytes) -> bytes:
    """MR_small with its declared size and pixel data replaced."""
    ds = pydicom.dcmread(io.BytesIO(pydicom_file("MR_small.dcm")))
    ds.Rows, ds.Columns = rows, cols
    ds.PixelData = pixel_bytes
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def edited(edit) -> bytes:
    """MR_small after `edit(ds)`."""
    ds = pydicom.dcmread(io.BytesIO(pydicom_file("MR_small.dcm")))
    edit(ds)
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def rows_as_bytes(ds) -> None:
    ds["Rows"].VR, ds["Rows"].value = "OB", b"\x40\x00"


def twice_the_pixels(ds) -> None:
    ds.PixelData = ds.PixelData * 2


def resized(name: str, rows: int, cols: int) -> bytes:
    """A compressed file whose declared Rows/Columns no longer match its codestream."""
    ds = pydicom.dcmread(io.BytesIO(pydicom_file(name)))
    ds.Rows, ds.Columns = rows, cols
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


HOSTILE = {
    "truncated": (pydicom_file("MR_truncated.dcm"), "pixel data"),
    "no_meta": (pydicom_file("no_meta.dcm"), "DICM"),
    "zero_length_pixels": (with_pixels(64, 64, b""), ""),
    "dimensions_larger_than_data": (with_pixels(128, 128, bytes(64 * 64 * 2)), ""),
    "gigapixel_dimensions": (with_pixels(65535, 65535, bytes(64 * 64 * 2)), ""),
    "wrong_vr": (edited(rows_as_bytes), "Rows b'@\\x00' is not a whole number"),
    "frames_not_a_number": (pydicom_file("badVR.dcm"), "NumberOfFrames '1A' is not a whole number"),
    "more_pixel_data_than_declared": (edited(twice_the_pixels), "2 frames of 64x64 at 16 bits"),
    "rle_larger_than_its_segments": (resized("MR_small_RLE.dcm", 128, 128), ""),
    "jpeg2000_smaller_than_its_codestream": (resized("MR_small_jp2klossless.dcm", 32, 64), ""),
    "random_bytes": (np.random.default_rng(5).bytes(4096), ""),
    "empty": (b"", ""),
}


@pytest.fixture
def decode_pipeline(fixtures_dir):
    return bundled_pipeline(fixtures_dir / "pipelines" / "decode.json")


def test_parity_hostile_files_are_per_case_errors_and_the_rest_still_runs(
    parity_harness, decode_pipeline, tmp_path, fixtures_dir
):
    paths = []
    for name, (data, _) in HOSTILE.items():
        path = tmp_path / f"{name}.dcm"
        path.write_bytes(data)
        paths.append(path)
    good = fixtures_dir / "dicom" / "synthetic_12bit_signed.dcm"

    class FileSource:  # cases that are the files themselves, nothing decoded up front
        def __init__(self, path: Path) -> None:
            self.id, self.path = path.stem, path

        def load(self) -> cases.Case:
            return cases.from_file(self.path)

    suite = Suite("hostile", (decode_pipeline,), tuple(FileSource(p) for p in [*paths, good]))
    report = run_suite(parity_harness, suite, ["wasm"], ["chromium"])
    runs = {c.case: c.runs[0] for c in report.cases}
    for name in HOSTILE:
        run = runs[name]
        assert run.status == "error", name
        assert "decode:" in run.reason and "Python decode failed" in run.reason, run.reason
        assert "JS exception" in run.reason, run.reason  # the page refused it too, with a reason
    for name, (_, said) in HOSTILE.items():
        assert said in runs[name].reason, (name, runs[name].reason)
    assert (
        "RLE segment 0 decodes to 4096 of the frame's 16384 pixels"
        in runs["rle_larger_than_its_segments"].reason
    )
    assert (
        "frame is 64x64, the file's Columns x Rows say 64x32"
        in runs["jpeg2000_smaller_than_its_codestream"].reason
    )
    assert runs[good.stem].status == "ok"  # the page and the browser lived on


MR_SMALL = pydicom_file("MR_small.dcm")
SEEDS = {
    "MR_small": MR_SMALL,
    "bigendian": pydicom_file("MR_small_bigendian.dcm"),
    "deflated": pydicom_file("image_dfl.dcm"),
    # compressed: mutated codestreams reach the page's wasm codecs and our RLE decoder
    "rle": pydicom_file("MR_small_RLE.dcm"),
    "jpeg_ls": pydicom_file("MR_small_jpeg_ls_lossless.dcm"),
    "jpeg2000": pydicom_file("MR_small_jp2klossless.dcm"),
    "jpeg_lossless": (
        Path(__file__).parent.parent / "fixtures" / "dicom" / "synthetic_12bit_jpeg_lossless.dcm"
    ).read_bytes(),
}


@st.composite
def mutated(draw) -> bytes:
    """A real file with some bytes overwritten, a slice cut out or the tail cut off."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data) - 1))
        del data[start : start + draw(st.integers(1, 64))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.fixture(scope="module")
def outcomes():
    """How the mutated files came out (printed with -s; the test asserts what must hold)."""
    counts = {"both": 0, "agree": 0, "python_only": 0, "js_only": 0, "neither": 0}
    yield counts
    print(f"\nmutated DICOM files: {counts}")


@settings(
    max_examples=2000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=mutated())
def test_parity_mutated_files_never_wedge_either_decoder(parity_harness, outcomes, data):
    page = parity_harness.backend_page("chromium", "cpu").page
    key = f"hostile/{secrets.token_hex(6)}"
    parity_harness.server.offer_inputs(key, {"file": np.frombuffer(data, dtype=np.uint8)})
    try:
        js = page.evaluate(
            f"a => {hooks_for_tests(page)}.decodeFile(a)",
            {"inputKey": key, "frame": 0},
            SECONDS_PER_FILE,
        )
    finally:
        parity_harness.server.withdraw_input(key)
    assert js["ms"] < SECONDS_PER_FILE * 1000
    try:
        python = dicom.decode(data).astype(np.int64)
        python_error = None
    except dicom.DicomError as e:
        python, python_error = None, str(e)
    assert python_error is None or python_error.strip()  # an error always says something
    assert js["error"] is None or js["error"].strip()
    if python is not None and js["error"] is None:
        outcomes["both"] += 1
        flat = python.reshape(-1)
        weights = (np.arange(flat.size) % 251) + 1
        same = list(python.shape) == js["shape"][:2] and float(flat @ weights) == js["checksum"]
        outcomes["agree"] += same
    elif python is not None:
        outcomes["python_only"] += 1
    elif js["error"] is None:
        outcomes["js_only"] += 1
    else:
        outcomes["neither"] += 1
