"""`bench decode`: a 512x512 16-bit DICOM file decoded in the page and by pydicom."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.paths import HOME as REPO
from harness.orchestrate.orchestrator import Harness
from harness.runtimes.browser import hooks_for_tests

MB = 1e6


def decode(repeats: int = 7) -> dict[str, Any]:
    """A 512x512 16-bit DICOM file decoded in the page (dicom-parser) and by pydicom, same run,
    as MB/s of the file. `page_decode`: the page's decode op alone, the file already in the page
    (parse, read the frame, mask, make the tensor, read it back); `page`: the same plus fetching
    the file from the harness (in-page ms); `page_run`: a whole `Harness.run` of the decode step
    on wasm (file sent, decoded, pulled, compared with pydicom's array); `python`: pydicom's
    decode. Medians after a warm-up."""
    from harness import dicom
    from harness.orchestrate.suite import bundled_pipeline
    from harness.specs import cases

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_512x512_16bit.dcm"
        path.write_bytes(_dicom_512x512())
        case = cases.from_file(path)
    data = case.file.tobytes()
    pipeline = bundled_pipeline(REPO / "fixtures" / "pipelines" / "decode.json")
    python = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        dicom.decode(data)
        python.append(time.perf_counter() - t0)
    with Harness(isolated=False, repeat=False, hints=False) as h:
        page = h.backend_page("chromium", "wasm").page
        hooks = hooks_for_tests(page)
        key = "bench/decode"
        h.server.offer_inputs(key, {"file": case.file})
        try:
            in_page = [
                page.evaluate(f"a => {hooks}.decodeFile(a)", {"inputKey": key, "frame": 0})
                for _ in range(repeats + 1)
            ]
        finally:
            h.server.withdraw_input(key)
        if any(r["error"] for r in in_page):
            raise AssertionError(f"the page could not decode the bench file: {in_page[0]['error']}")
        runs = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            result = h.run(pipeline, case, "chromium", "wasm")
            runs.append(time.perf_counter() - t0)
            if not result.passed:
                raise AssertionError(f"decode run did not pass: {result.reason}")
    mb = len(data) / MB

    def rate(seconds: list[float]) -> float:
        return round(mb / statistics.median(seconds[1:]), 1)

    return {
        "decode": {
            "file_megabytes": round(mb, 3),
            "page_decode_mb_per_s": rate([r["decode_ms"] / 1000 for r in in_page]),
            "page_mb_per_s": rate([r["ms"] / 1000 for r in in_page]),
            "page_run_mb_per_s": rate(runs),
            "python_mb_per_s": rate(python),
            "repeats": repeats,
        }
    }


def _dicom_512x512() -> bytes:
    """A 512x512 MONOCHROME2 16-bit file (12 bits stored), explicit VR little endian."""
    import io

    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    ds = pydicom.dcmread(REPO / "fixtures" / "dicom" / "synthetic_12bit_signed.dcm")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows = ds.Columns = 512
    ds.PixelRepresentation = 0
    values = np.random.default_rng(0).integers(0, 4096, (512, 512), dtype=np.uint16)
    ds.PixelData = values.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
